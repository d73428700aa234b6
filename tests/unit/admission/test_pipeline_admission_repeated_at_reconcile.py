"""The pipeline webhook may fail open only if the reconcile refuses whatever it refuses: every reason the
SpinnakerPipeline webhook can refuse with (enumerated from `handlers.admission.validate_pipeline`'s code) has cases
here, and for each case the reconcile's own decision refuses too, with the matching reason, before anything
reaches Gate.

The cases: the hostile pipeline corpus (tests/integration/hostile/pipeline_corpus.py) and the SpinnakerPipeline
schema cases of the invalid corpus. The webhook side is the real handler with the real guard
(`admission.pipeline_guard.guard_errors`) fed the world instead of reading MGMT; the reconcile side is
`validate_resource` (reconcile's first step) then `pipelines.decision.guard_refusal` with the `Tenancy` built by
`pipelines.scope.tenancy_for` from the same world, as `reconcile` builds it from its indexes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

import spinop.tenancy.claims as account_claims
from spinop.admission import pipeline_guard, rules
from spinop.admission.pipelines import PipelineReview, pipeline_validators, register_pipeline_validator
from spinop.admission.pipelines import unregister_pipeline_validator as unregister
from spinop.api.errors import FieldError
from spinop.api.v1alpha1 import SpinnakerPipeline, validate_resource
from spinop.config import OperatorConfig
from spinop.handlers import admission as handlers
from spinop.pipelines import pipeline_id
from spinop.pipelines.claims import claim_from_body
from spinop.pipelines.decision import guard_refusal
from spinop.pipelines.scope import tenancy_for
from tests.integration.hostile.pipeline_corpus import CORPUS, GRANTED_HOST, Ctx, HostilePipeline
from tests.integration.pipelines.builders import deploy_pipeline, spinnaker_pipeline
from tests.integration.pipelines.conftest import GRANTS
from tests.unit.api.invalid_corpus import InvalidCase, cases

RECONCILE_REASON = {
    # The webhook's reason -> the reconcile's for the same refusal (the condition reasons predate the webhook).
    "Invalid": {"InvalidSpec"},
    "ApplicationNotOwned": {"ApplicationNotOwned"},
    # The guard's refusals; a body the renderer refuses (e.g. a reserved key) is InvalidSpec at reconcile.
    "PipelineNotAllowed": {"PipelineRefused", "InvalidSpec"},
}
CONFIG = OperatorConfig.model_validate({"pipelines": {"grants": GRANTS}})
CLUSTER = "dev"
CTX = Ctx(
    tenant="tn-a",
    app="tn-a-web",
    account=f"{CLUSTER}-tn-a-dev",
    namespace="tn-a-dev",
    victim_app="tn-v-web",
    victim_account=f"{CLUSTER}-tn-v-dev",
    victim_namespace="tn-v-dev",
)
_PATH = re.compile(r"(?:^|; )(spec\.[^\s:]*): ")


@dataclass(frozen=True)
class Case:
    id: str
    body: Mapping[str, Any]
    old: Mapping[str, Any] | None = None
    paths: tuple[str, ...] = ()
    """Where the refusal must point (hostile cases)."""


def account(tenant: str, target: str, uid: str) -> dict[str, Any]:
    """A Ready SpinnakerAccount as the index holds it."""
    return {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": {"name": "dev", "namespace": tenant, "uid": uid, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"cluster": CLUSTER, "namespace": target},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


ACCOUNTS = [account(CTX.tenant, CTX.namespace, "uid-a"), account("tn-v", CTX.victim_namespace, "uid-v")]
CLUSTER_SPECS = {CLUSTER: {"tenancy": {"pipelines": {"allowedUrlHosts": [GRANTED_HOST]}}}}


def _stored(body: Mapping[str, Any], uid: str, created: str, **status: Any) -> dict[str, Any]:
    out: dict[str, Any] = {**body, "metadata": {**body["metadata"], "uid": uid, "creationTimestamp": created}}
    out["status"] = status
    return out


def legit(namespace: str, application: str, tenant_account: str, target: str) -> dict[str, Any]:
    base = deploy_pipeline(application=application, account=tenant_account, namespace=target, tenant=namespace)
    return spinnaker_pipeline(namespace, "deploy", application, "deploy", base)


# Both tenants' legit pipelines, saved: each claims its application first (as in the integration test).
CLAIMED = [
    _stored(legit(CTX.tenant, CTX.app, CTX.account, CTX.namespace), "p-a", "2026-01-01T00:00:00Z", pipelineId="a"),
    _stored(
        legit("tn-v", CTX.victim_app, CTX.victim_account, CTX.victim_namespace),
        "p-v",
        "2026-01-01T00:00:00Z",
        pipelineId="v",
    ),
]


def hostile_case(case: HostilePipeline) -> Case:
    body = legit(CTX.tenant, CTX.app, CTX.account, CTX.namespace)
    body["metadata"]["name"] = body["spec"]["name"] = case.name
    case.mutate(CTX, body["spec"])
    return Case(f"hostile-{case.name}", body, paths=case.paths)


def schema_case(case: InvalidCase) -> Case:
    return Case(f"schema-{case.id}", case.obj, case.old)


CASES = [hostile_case(c) for c in CORPUS] + [
    schema_case(c) for c in cases("schema") if c.obj["kind"] == "SpinnakerPipeline"
]


# --------------------------------------------------------------------------------------------------- the two sides


@pytest.fixture(autouse=True)
def guard_on_the_world() -> Iterator[None]:
    """The real guard, fed the world instead of MGMT reads (the I/O-reading validator stays out meanwhile)."""

    async def guard(review: PipelineReview) -> Sequence[FieldError]:
        namespace = review.pipeline.metadata.namespace
        own = [a for a in ACCOUNTS if a["metadata"]["namespace"] == namespace]
        return pipeline_guard.guard_errors(review.pipeline, review.body, own, CLUSTER_SPECS, CONFIG.pipelines)

    before = pipeline_validators()
    for validator in before:
        unregister(validator)
    register_pipeline_validator(guard)
    yield
    unregister(guard)
    for validator in before:
        register_pipeline_validator(validator)


async def webhook(case: Case) -> tuple[str, list[str]] | None:
    """The webhook's refusal: (reason, the paths it names), or None when admitted."""
    memo = kopf.Memo()
    memo["ctx"] = SimpleNamespace(config=CONFIG, mgmt=None)
    operation = rules.UPDATE if case.old is not None else rules.CREATE
    try:
        await handlers.validate_pipeline(
            memo=memo, warnings=[], dryrun=True, operation=operation, new=case.body, old=case.old
        )
    except kopf.AdmissionError as err:
        reason, _, rest = str(err).partition(": ")
        return reason, _PATH.findall(rest)
    return None


def reconcile(case: Case) -> tuple[str, list[str]] | None:
    """The reconcile's refusal for the stored object: (reason, the paths it names), or None when it would save."""
    body = _stored(case.body, "uid-under-review", "2099-01-01T00:00:00Z")
    resource, errors = validate_resource(body)
    if not isinstance(resource, SpinnakerPipeline):
        return "InvalidSpec", [e.path for e in errors]
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    claims = [c for c in map(claim_from_body, CLAIMED) if c is not None]
    own = [c for c in map(account_claims.claim_from_body, ACCOUNTS) if c is not None]
    tenancy = tenancy_for(body, own, claims, CONFIG.pipelines, CLUSTER_SPECS)
    refusal = guard_refusal(
        resource.spec,
        namespace=namespace,
        owner=f"{namespace}/{name}",
        pipeline_id=pipeline_id(namespace, name),
        tenancy=tenancy,
        settings=CONFIG.pipelines,
    )
    if refusal is None:
        return None
    assert refusal.needs_user, refusal  # refused until the user changes it, not waiting
    return refusal.reason, _PATH.findall(refusal.message)


# --------------------------------------------------------------------------------------------------------- tests


def _webhook_reasons() -> set[str]:
    """Every reason the pipeline webhook refuses with, from the code (`rules.unavailable` is an outage's answer)."""
    source = inspect.getsource(handlers.validate_pipeline) + inspect.getsource(rules.decide_pipeline_schema)
    literal = set(re.findall(r'refuse\(\s*(?:"|Reason\.)([A-Z][A-Za-z]+)', source))  # Reason.X, or "X" before
    constants = {getattr(handlers, n) for n in re.findall(r"refuse\(\s*([A-Z][A-Z_]+)\b", source)}
    return literal | constants


async def test_the_legit_pipelines_pass_both() -> None:
    for body in CLAIMED:
        case = Case("legit", {k: v for k, v in body.items() if k != "status"})
        assert await webhook(case) is None and reconcile(case) is None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_the_reconcile_refuses_every_case_the_pipeline_webhook_refuses(case: Case) -> None:
    refused = await webhook(case)
    assert refused is not None, f"{case.id}: admitted"
    reason, paths = refused
    if case.old is not None:
        # A transition rule (spec.application is immutable): the reconcile never sees the old object; the CRD's CEL
        # rule, which the apiserver enforces without any webhook, refuses it (tests/integration/test_crds.py).
        assert reason == "Invalid"
        return
    again = reconcile(case)
    assert again is not None, f"{case.id}: refused by the webhook ({reason}) but the reconcile would save it"
    assert again[0] in RECONCILE_REASON[reason], (case.id, reason, again)
    if case.paths:
        assert set(paths) <= set(case.paths) and sorted(again[1]) == sorted(case.paths), (paths, again[1])


async def test_every_reason_of_the_pipeline_webhook_has_cases() -> None:
    reasons = _webhook_reasons()
    assert reasons == set(RECONCILE_REASON), reasons  # a new reason needs its reconcile counterpart here
    covered = set()
    for case in CASES:
        refused = await webhook(case)
        assert refused is not None
        covered.add(refused[0])
    assert covered == reasons
