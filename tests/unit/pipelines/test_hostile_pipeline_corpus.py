"""The hostile pipeline corpus (tests/integration/hostile/pipeline_corpus.py) through the guard alone: the same
exact paths the integration test expects from the operator, and the legit base pipeline accepted."""

from __future__ import annotations

import pytest

from spinop.pipelines import TenantScope, check_pipeline, pipeline_id, render_pipeline
from tests.integration.hostile.pipeline_corpus import CORPUS, GRANTED_HOST, Ctx, HostilePipeline
from tests.integration.pipelines.builders import deploy_pipeline

CTX = Ctx(
    tenant="tn-a",
    app="attacker",
    account="dev-tn-a-dev",
    namespace="tn-a-dev",
    victim_app="victim",
    victim_account="dev-tn-v-dev",
    victim_namespace="tn-v-dev",
)
SCOPE = TenantScope(
    namespace=CTX.tenant,
    accounts={CTX.account: {CTX.namespace}},
    applications={CTX.app},
    artifact_accounts={f"{CTX.tenant}-github"},
    registry_accounts={f"{CTX.tenant}-registry"},
    url_hosts={GRANTED_HOST},
)


def spec() -> dict:
    body = deploy_pipeline(application=CTX.app, account=CTX.account, namespace=CTX.namespace, tenant=CTX.tenant)
    return {"application": CTX.app, "name": "attempt", "pipeline": body}


def refused(s: dict) -> list[str]:
    body = render_pipeline(
        application=s["application"],
        name=s["name"],
        pipeline=s["pipeline"],
        pipeline_id=pipeline_id(CTX.tenant, "x"),
        owner=f"{CTX.tenant}/x",
    )
    return [v.path for v in check_pipeline(body, SCOPE)]


def test_the_base_is_accepted_and_the_corpus_is_large_enough():
    assert refused(spec()) == []
    assert len(CORPUS) >= 30 and len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_each_hostile_pipeline_is_refused_at_its_paths(case: HostilePipeline):
    s = spec()
    case.mutate(CTX, s)
    assert refused(s) == list(case.paths), case.what
