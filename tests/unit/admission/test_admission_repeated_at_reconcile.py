"""failurePolicy Ignore is safe only if the reconcile refuses whatever the webhook refuses: for every admission
case of the invalid corpus (tests/unit/api/invalid_corpus.py, layer "admission": one or more cases per reason the
rules of `spinop.admission.rules` can refuse a SpinnakerAccount with, enumerated from their code), the decision
`controllers.provision.provision` makes when the webhook is absent (the stored object is then the youngest claim)
refuses with the webhook's reason.

The one deliberate exception: `GuardrailsLooserThanCluster` is refused at admission, while the reconcile applies the
cluster's stricter values instead and says so in `GuardrailsApplied` (docs/guardrails.md): a safe outcome, not the
same refusal. The reconcile side is also played against real apiservers, with the webhook down, by
tests/integration/admission/test_webhook_down.py and tests/integration/reliability/test_bad_input.py.
"""

from __future__ import annotations

import datetime
import inspect
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest

from spinop import tenancy
from spinop.admission import rules
from spinop.api.v1alpha1 import SpinnakerAccount
from spinop.config import OperatorConfig
from spinop.controllers import provision
from tests.unit.admission.test_admission import decide, stored
from tests.unit.api.invalid_corpus import (
    MAX_ACCOUNTS_ON_MISSING_CLUSTERS,
    OPERATOR_NAMESPACES,
    InvalidCase,
    TenancyWorld,
    cases,
)

RECONCILE_APPLIES_INSTEAD = {"GuardrailsLooserThanCluster"}
CONFIG = OperatorConfig(max_accounts_on_missing_clusters=MAX_ACCOUNTS_ON_MISSING_CLUSTERS)
assert CONFIG.reserved_namespaces == OPERATOR_NAMESPACES


def reconcile_reason(case: InvalidCase) -> str | None:
    """The reason `provision` writes into RemoteProvisioned for the stored case object (None: no refusal).

    Its inputs are built as `controllers.accounts.reconcile` builds them from the indexes. A refusal returns before
    any cluster is contacted; the context has no clients, so a case the reconcile would not refuse fails loudly.
    """
    world = TenancyWorld.for_case(case)
    judge = world.judge()
    body = stored(case.obj, "uid-under-review", "2099-01-01T00:00:00Z")  # stored last: the youngest claim
    others = [
        stored(a, f"uid-{i}", f"2026-01-01T00:00:{i:02d}Z")
        for i, a in enumerate(world.accounts)
        if (a["metadata"]["namespace"], a["metadata"]["name"])
        != (body["metadata"]["namespace"], body["metadata"]["name"])
    ]
    claims = [c for c in (tenancy.claim_from_body(a) for a in [*others, body]) if c is not None]
    me = tenancy.claim_from_body(body)
    assert me is not None
    account = SpinnakerAccount.model_validate(body)
    out = provision.provision(
        cast(Any, SimpleNamespace(config=CONFIG, account_memory={})),
        account,
        cluster_body=world.clusters.get(account.spec.cluster),
        tenant_labels=world.namespace_labels.get(me.tenant, {}),
        winners=tenancy.older_claims(claims, me, judge.stands),
        rotation_request="",
        previously_provisioned=False,
        now=datetime.datetime.now(datetime.UTC),
        boundaries=judge.boundaries,
        missing_cluster_claims=[
            c
            for c in tenancy.older_claims(claims, me)
            if c.tenant == me.tenant and c.cluster not in judge.boundaries.clusters
        ],
    )
    if out.error is None:
        return None
    assert out.conditions[-1].type == "RemoteProvisioned" and out.conditions[-1].status == "False"
    return out.error.reason


ACCOUNT_CASES = [c for c in cases("admission") if c.obj["kind"] == "SpinnakerAccount"]


@pytest.mark.parametrize("case", ACCOUNT_CASES, ids=lambda c: c.id)
def test_the_reconcile_refuses_every_admission_case_with_the_webhooks_reason(case: InvalidCase) -> None:
    verdict = decide(case)
    assert not verdict.allowed
    if verdict.reason in RECONCILE_APPLIES_INSTEAD:
        pytest.skip(f"{verdict.reason}: the reconcile applies the cluster's stricter values (GuardrailsApplied)")
    assert reconcile_reason(case) == verdict.reason, case.id


SCHEMA_REASON = "Invalid"  # the CRD's own rules repeated from the models: the schema cases of the corpus


def _rule_reasons() -> set[str]:
    """Every reason `decide_account` and `tenancy_violations` can refuse a SpinnakerAccount with, from the code."""
    source = inspect.getsource(tenancy.tenancy_violations) + inspect.getsource(rules.decide_account)
    # A reason is written `Reason.X` (or, before issue 18's codemod, "X").
    return set(re.findall(r'\(\s*(?:"|Reason\.)([A-Z][A-Za-z]+)"?,', source)) | set(
        re.findall(r'refuse\(\s*(?:"|Reason\.)([A-Z][A-Za-z]+)', source)
    )


def test_every_account_refusal_reason_of_the_rules_has_a_corpus_case() -> None:
    reasons = _rule_reasons()
    assert len(reasons) >= 12, reasons  # the enumeration itself works
    covered = {decide(c).reason for c in ACCOUNT_CASES}
    assert covered <= reasons
    assert reasons - covered - {SCHEMA_REASON} == set(), "reasons without an admission case in the corpus"
