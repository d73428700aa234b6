"""failurePolicy Ignore is safe only if the reconcile refuses whatever the webhook refuses: for every admission
case of the invalid corpus (tests/unit/api/invalid_corpus.py, layer "admission": one or more cases per tenancy
rule of `spinop.admission.rules`), the decision `controllers.accounts.provision` makes when the webhook is absent
(the stored object is then the youngest claim) refuses with the webhook's reason.

The one deliberate exception: `GuardrailsLooserThanCluster` is refused at admission, while the reconcile applies the
cluster's stricter values instead and says so in `GuardrailsApplied` (docs/guardrails.md): a safe outcome, not the
same refusal. The reconcile side is also played against real apiservers, with the webhook down, by
tests/integration/admission/test_webhook_down.py and tests/integration/reliability/test_bad_input.py.
"""

from __future__ import annotations

import inspect
import re

import pytest

from spinop.admission import rules
from spinop.api.v1alpha1 import SpinnakerAccount, SpinnakerCluster
from spinop.config import OperatorConfig
from spinop.controllers import accounts
from tests.unit.api.invalid_corpus import OPERATOR_NAMESPACES, InvalidCase, TenancyWorld, cases
from tests.unit.test_admission import decide, stored

RECONCILE_APPLIES_INSTEAD = {"GuardrailsLooserThanCluster"}
MAX_ON_MISSING = OperatorConfig().max_accounts_on_missing_clusters


def reconcile_reason(case: InvalidCase) -> str | None:
    """The reason `provision` would write into RemoteProvisioned for the stored case object (None: no refusal)."""
    world = TenancyWorld.for_case(case)
    judge = world.judge()
    body = stored(case.obj, "uid-under-review", "2099-01-01T00:00:00Z")  # stored last: the youngest claim
    others = [
        stored(a, f"uid-{i}", f"2026-01-01T00:00:{i:02d}Z")
        for i, a in enumerate(world.accounts)
        if (a["metadata"]["namespace"], a["metadata"]["name"])
        != (body["metadata"]["namespace"], body["metadata"]["name"])
    ]
    claims = [c for c in (accounts.claim_from_body(a) for a in [*others, body]) if c is not None]
    me = accounts.claim_from_body(body)
    assert me is not None
    spec = SpinnakerAccount.model_validate(body).spec
    cluster_body = world.clusters.get(spec.cluster)
    if cluster_body is None:
        missing = [
            c for c in accounts.older_claims(claims, me) if c.tenant == me.tenant and c.cluster not in world.clusters
        ]
        too_many = rules.missing_cluster_refusal(me.tenant, spec.cluster, missing, (), MAX_ON_MISSING)
        return "TooManyAccountsOnMissingClusters" if too_many is not None else "ClusterNotFound"
    refusal = rules.tenancy_refusal(
        spec,
        tenant=me.tenant,
        name=me.name,
        tenant_labels=world.namespace_labels.get(me.tenant, {}),
        cluster_name=spec.cluster,
        cluster=SpinnakerCluster.model_validate(cluster_body).spec,
        winners=accounts.older_claims(claims, me, judge.stands),
        reserved=OPERATOR_NAMESPACES,
        boundaries=judge.boundaries,
    )
    return refusal.reason if refusal is not None else None


ACCOUNT_CASES = [c for c in cases("admission") if c.obj["kind"] == "SpinnakerAccount"]


@pytest.mark.parametrize("case", ACCOUNT_CASES, ids=lambda c: c.id)
def test_the_reconcile_refuses_every_admission_case_with_the_webhooks_reason(case: InvalidCase) -> None:
    verdict = decide(case)
    assert not verdict.allowed
    if verdict.reason in RECONCILE_APPLIES_INSTEAD:
        pytest.skip(f"{verdict.reason}: the reconcile applies the cluster's stricter values (GuardrailsApplied)")
    assert reconcile_reason(case) == verdict.reason, case.id


NOT_IN_THE_CORPUS_YET = {
    # Reasons the rules can refuse with that have no admission case in the corpus yet (listed in the report of the
    # change that added this test); the test fails when one gets a case (drop it here) or a new reason appears.
    "AdoptNotAllowed",
    "TenantCacheThreadsExceeded",
    "TooManyAccountsOnMissingClusters",
    "ClusterInvalid",  # an admin's SpinnakerCluster spinop cannot read; the reconcile reports it on the cluster
}
SCHEMA_REASON = "Invalid"  # the CRD's own rules repeated from the models: the schema cases of the corpus


def _rule_reasons() -> set[str]:
    """Every reason `decide_account` and `tenancy_violations` can refuse a SpinnakerAccount with, from the code."""
    source = inspect.getsource(rules.tenancy_violations) + inspect.getsource(rules.decide_account)
    return set(re.findall(r'\(\s*"([A-Z][A-Za-z]+)",', source)) | set(
        re.findall(r'refuse\(\s*"([A-Z][A-Za-z]+)"', source)
    )


def test_every_account_refusal_reason_of_the_rules_has_a_corpus_case() -> None:
    reasons = _rule_reasons()
    assert len(reasons) >= 12, reasons  # the enumeration itself works
    covered = {decide(c).reason for c in ACCOUNT_CASES}
    assert covered <= reasons
    assert reasons - covered - {SCHEMA_REASON} == NOT_IN_THE_CORPUS_YET
