"""The SpinnakerAccount domain that the account controller orchestrates (pure, no I/O).

`desired` builds what an account asks for (the remote objects, the credentials policy, the Spinnaker account),
`guardrails` its namespace's guardrails and their condition, `outcome` what one reconcile found (conditions, fields,
Events). Shared by the reconcile and `spinop plan`/`spinop import`.
"""

from spinop.accounts.desired import (
    build_desired_remote,
    credentials_policy,
    desired_spinnaker_account,
    extra_rules,
    render_key,
    spinnaker_permissions,
)
from spinop.accounts.guardrails import account_guardrails, guardrails_condition
from spinop.accounts.outcome import Outcome

__all__ = [
    "Outcome",
    "account_guardrails",
    "build_desired_remote",
    "credentials_policy",
    "desired_spinnaker_account",
    "extra_rules",
    "guardrails_condition",
    "render_key",
    "spinnaker_permissions",
]
