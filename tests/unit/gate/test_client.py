"""GateClient against the Gate stand-in over real HTTP(S): every effect is asserted in the stand-in's state."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from spinop.gate import (
    BasicAuth,
    BearerAuth,
    GateAccountExists,
    GateClient,
    GateDuplicateName,
    GateRateLimited,
    GateRejected,
    GateSaveStillRunning,
    GateStale,
    GateTaskFailed,
    GateUnauthorized,
    GateUnavailable,
    X509Auth,
    reset_wait_seconds,
)
from spinop.pipelines import pipeline_id, preserve_cron_trigger_ids, render_pipeline
from spinop.redact import Redacted
from tests.standins.gate import GateStandin, RateLimitSettings, Rejected

from .conftest import eventually, fast_settings


def body(name: str = "deploy", pid: str | None = "p-1", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"application": "shop", "name": name, **extra}
    if pid:
        out["id"] = pid
    return out


# ---- applications --------------------------------------------------------------------------------------


async def test_upsert_application_creates_then_updates_permissions(gate, client):
    assert await client.get_application("shop") is None
    result = await client.upsert_application("shop", email="team@x.io", permissions={"READ": ["a"], "WRITE": ["a"]})
    assert result.succeeded
    app = await client.get_application("shop")
    assert app is not None and app.email == "team@x.io" and app.cloud_providers == ["kubernetes"]
    await client.upsert_application("shop", email="new@x.io", permissions={"READ": ["a", "b"], "WRITE": ["a"]})
    stored = gate.state.applications["shop"]
    assert stored["email"] == "new@x.io" and stored["permissions"] == {"READ": ["a", "b"], "WRITE": ["a"]}
    assert [t.job_types for t in gate.state.tasks.values()] == [["upsertApplication"]] * 2


async def test_upsert_application_failure_carries_orcas_error(gate, client):
    with pytest.raises(GateTaskFailed) as failed:
        await client.upsert_application("9-invalid", email="a@x.io")
    assert failed.value.task_status == "TERMINAL" and "invalid" in failed.value.errors[0]
    assert not failed.value.retryable
    assert gate.state.applications == {}


async def test_delete_application_refused_while_it_has_clusters(gate, client):
    await client.upsert_application("shop", email="a@x.io")
    await client.save_pipeline(body())
    gate.set_clusters("shop", {"dev": ["deployment shop"]})
    with pytest.raises(GateTaskFailed, match="outstanding dependencies"):
        await client.delete_application("shop")
    gate.set_clusters("shop", {})
    assert await client.delete_application("shop") is True
    assert gate.state.applications == {} and gate.state.pipelines == {}  # the delete cascades
    assert await client.delete_application("shop") is False


# ---- pipelines -----------------------------------------------------------------------------------------


async def test_save_with_a_deterministic_id_creates_and_renames(gate, client):
    pid = pipeline_id("team-a", "deploy")
    rendered = render_pipeline(
        application="shop", name="deploy", pipeline={"stages": []}, pipeline_id=pid, owner="team-a/deploy"
    )
    await client.save_pipeline(rendered)
    await client.save_pipeline({**rendered, "name": "deploy-v2"})
    assert list(gate.state.pipelines) == [pid]
    stored = await client.get_pipeline_config("shop", "deploy-v2")
    assert stored is not None and stored["id"] == pid and stored["locked"]["ui"] is True
    assert await client.get_pipeline_config("shop", "deploy") is None
    assert await client.get_pipeline_config("shop", "DEPLOY-V2") is None  # Gate's get is case-sensitive
    assert (await client.find_pipeline("shop", pid)) == stored


async def test_duplicate_name_is_its_own_error(gate, client):
    await client.save_pipeline(body(pid="one"))
    with pytest.raises(GateDuplicateName) as dup:
        await client.save_pipeline(body(name="Deploy", pid="two"))
    assert (dup.value.application, dup.value.name, dup.value.status) == ("shop", "Deploy", 400)
    assert list(gate.state.pipelines) == ["one"]


async def test_stale_check_refuses_a_save_over_a_ui_edit(gate, client):
    await client.save_pipeline(body(stages=[]))
    seen = (await client.find_pipeline("shop", "p-1")) or {}
    gate.ui_save_pipeline({**seen, "description": "edited by alice"}, principal="alice")
    with pytest.raises(GateStale):
        await client.save_pipeline(body(lastModified=seen["lastModified"]), stale_check=True)
    assert gate.state.pipelines["p-1"]["description"] == "edited by alice"
    fresh = await client.find_pipeline("shop", "p-1")
    assert fresh is not None and fresh["lastModifiedBy"] == "alice"
    await client.save_pipeline(body(lastModified=fresh["lastModified"]), stale_check=True)
    assert "description" not in gate.state.pipelines["p-1"]
    assert gate.state.pipelines["p-1"]["lastModifiedBy"] == "anonymous"


async def test_save_still_running_then_read_back(gate, client):
    gate.set_save_timing(duration=0.3, polls=2, interval=0.05)
    with pytest.raises(GateSaveStillRunning) as running:
        await client.save_pipeline(body())
    assert running.value.task_id in gate.state.tasks and running.value.retryable
    assert "p-1" not in gate.state.pipelines
    config = await client.wait_for_pipeline("shop", "p-1", within=5, interval=0.02)
    assert config is not None and config["name"] == "deploy"
    assert gate.state.tasks[running.value.task_id].status == "SUCCEEDED"


async def test_no_answer_to_a_save_means_read_back_too(gate):
    async with GateClient(fast_settings(gate.url, save_timeout=0.1)) as client:
        gate.set_save_timing(duration=0.3)  # within Gate's own 32 s window, beyond the client's patience
        with pytest.raises(GateSaveStillRunning) as no_answer:
            await client.save_pipeline(body())
        assert no_answer.value.task_id is None
        assert await client.wait_for_pipeline("shop", "p-1", within=5, interval=0.02) is not None
        gate.set_save_timing(duration=0.0)
        gate.set_latency(0.3, path="^/pipelines$")
        with pytest.raises(GateSaveStillRunning):
            await client.save_pipeline(body(name="renamed"))
        await eventually(lambda: gate.state.pipelines["p-1"]["name"] == "renamed")


async def test_cron_trigger_ids_are_added_by_the_server_and_kept_across_saves(gate, client):
    pid = pipeline_id("team-a", "nightly")
    spec = {"triggers": [{"type": "cron", "cronExpression": "0 0 2 * * ?", "enabled": True}]}
    desired = render_pipeline(application="shop", name="nightly", pipeline=spec, pipeline_id=pid, owner="team-a/n")
    await client.save_pipeline(desired)
    live = await client.find_pipeline("shop", pid)
    assert live is not None
    cron_id = live["triggers"][0]["id"]
    await client.save_pipeline(preserve_cron_trigger_ids(desired, live))
    assert gate.state.pipelines[pid]["triggers"][0]["id"] == cron_id
    await client.save_pipeline(desired)  # without carrying the id over, Front50 gives the trigger a new one
    assert gate.state.pipelines[pid]["triggers"][0]["id"] not in ("", cron_id)


async def test_update_by_id_checks_the_id(gate, client):
    # Gate does not compare the ids (tests/unit/upstream_wire/test_gate.py): the client refuses before sending.
    await client.save_pipeline(body())
    stored = await client.update_pipeline("p-1", body(description="x"))
    assert stored["description"] == "x"
    with pytest.raises(GateRejected, match="body's id"):
        await client.update_pipeline("p-1", body(pid="other"))
    assert "other" not in gate.state.pipelines


async def test_delete_of_nothing_is_confirmed_through_the_list(gate, client):
    await client.save_pipeline(body())
    assert await client.delete_pipeline("shop", "not-there") is False
    assert list(gate.state.pipelines) == ["p-1"]
    assert await client.delete_pipeline("shop", " DEPLOY ") is True
    assert gate.state.pipelines == {}
    assert await client.delete_pipeline("shop", "deploy") is False


async def test_delete_by_id_follows_a_ui_rename(gate, client):
    await client.save_pipeline(body())
    gate.ui_save_pipeline({**gate.state.pipelines["p-1"], "name": "renamed in ui"}, principal="alice")
    gate.ui_save_pipeline({"application": "shop", "name": "deploy", "id": "alices"}, principal="alice")
    assert await client.delete_pipeline("shop", "deploy", pipeline_id="p-1") is True
    assert list(gate.state.pipelines) == ["alices"]  # the other pipeline that took the old name is untouched
    assert await client.delete_pipeline("shop", "deploy", pipeline_id="p-1") is False


async def test_delete_refuses_when_names_are_ambiguous(gate, client):
    # Legacy data (or parallel saves on HA Front50) can hold duplicates; Gate would delete whichever is first.
    gate.state.pipelines["a"] = {"id": "a", "application": "shop", "name": "deploy"}
    gate.state.pipelines["b"] = {"id": "b", "application": "shop", "name": "Deploy "}
    with pytest.raises(GateDuplicateName, match="2 pipelines"):
        await client.delete_pipeline("shop", "deploy")
    with pytest.raises(GateDuplicateName):
        await client.delete_pipeline("shop", "deploy", pipeline_id="b")
    assert set(gate.state.pipelines) == {"a", "b"}
    assert gate.request_count("DELETE") == 0


async def test_delete_that_gate_reports_but_does_not_do_is_not_trusted(gate, client):
    await client.save_pipeline(body())
    original = gate.state.delete_pipeline_by_name
    gate.state.delete_pipeline_by_name = lambda app, name: None
    try:
        with pytest.raises(GateUnavailable, match="still there"):
            await client.delete_pipeline("shop", "deploy")
    finally:
        gate.state.delete_pipeline_by_name = original


# ---- transport: retries, 429, down, slow ---------------------------------------------------------------


async def test_reads_retry_through_a_few_500s_but_writes_do_not(gate, client):
    gate.fail_next(2, path="pipelineConfigs")
    assert await client.list_pipeline_configs("shop") == []
    gate.fail_next(3, path="pipelineConfigs")
    with pytest.raises(GateUnavailable) as unavailable:
        await client.list_pipeline_configs("shop")
    assert unavailable.value.retryable
    gate.fail_next(1, path="^/pipelines$")
    with pytest.raises(GateUnavailable):
        await client.save_pipeline(body())
    assert gate.request_count("POST", "^/pipelines$") == 1 and gate.state.pipelines == {}


async def test_429_backs_off_until_the_window_resets(gate, client):
    gate.set_rate_limit(RateLimitSettings(capacity=2, window_seconds=0.3, reset_header="epoch-ms"))
    started = time.monotonic()
    for i in range(5):
        await client.save_pipeline(body(name=f"p{i}", pid=f"id{i}"))
    assert len(gate.state.pipelines) == 5
    assert sum(1 for r in gate.requests if r.status == 429) >= 1
    assert time.monotonic() - started < 5


async def test_429_with_gates_http_date_reset_and_bounded_retries(gate):
    gate.set_rate_limit(RateLimitSettings(capacity=1, window_seconds=60))
    async with GateClient(fast_settings(gate.url, rate_limit_retries=2, rate_limit_max_wait=0.05)) as client:
        await client.list_applications()
        with pytest.raises(GateRateLimited) as limited:
            await client.list_applications()
    assert limited.value.status == 429 and limited.value.retryable
    assert sum(1 for r in gate.requests if r.status == 429) == 3


def test_reset_header_formats():
    now = 1_700_000_000.0
    assert reset_wait_seconds("1700000002500", now) == pytest.approx(2.5)
    assert reset_wait_seconds("1700000003", now) == pytest.approx(3.0)
    assert reset_wait_seconds("Tue, 14 Nov 2023 22:13:24 GMT", now) == pytest.approx(4.0)
    assert reset_wait_seconds("garbage", now) is None and reset_wait_seconds(None, now) is None


async def test_rate_limit_app_header_identifies_anonymous_callers(gate):
    gate.set_rate_limit(RateLimitSettings(capacity=1, window_seconds=60, reset_header="epoch-ms"))
    settings = {"rate_limit_retries": 0}
    async with (
        GateClient(fast_settings(gate.url, rate_limit_app="spinop", **settings)) as a,
        GateClient(fast_settings(gate.url, rate_limit_app="other", **settings)) as b,
    ):
        await a.list_applications()
        await b.list_applications()  # its own budget
        with pytest.raises(GateRateLimited):
            await a.list_applications()


async def test_gate_down_then_back(gate, client):
    await gate.go_down(seconds=0.3)
    with pytest.raises(GateUnavailable) as down:
        await client.save_pipeline(body())
    assert not down.value.may_have_reached
    await eventually(lambda: gate.is_up)
    await client.save_pipeline(body())
    assert "p-1" in gate.state.pipelines


async def test_slow_gate_times_out_as_unavailable(gate):
    gate.set_latency(0.5)
    async with GateClient(fast_settings(gate.url, request_timeout=0.1, read_retries=0)) as client:
        with pytest.raises(GateUnavailable, match="Timeout"):
            await client.list_applications()


# ---- authentication ------------------------------------------------------------------------------------


async def test_basic_auth_and_wrong_password():
    async with GateStandin(auth="basic", users={"spinop": "s3cret"}) as gate:
        good = fast_settings(gate.url, auth=BasicAuth("spinop", Redacted("s3cret")))
        async with GateClient(good) as client:
            await client.save_pipeline(body())
        assert gate.state.pipelines["p-1"]["lastModifiedBy"] == "spinop"
        bad = fast_settings(gate.url, auth=BasicAuth("spinop", Redacted("wrong")))
        async with GateClient(bad) as client:
            with pytest.raises(GateUnauthorized) as refused:
                await client.list_applications()
        assert refused.value.status == 401 and "wrong" not in str(refused.value)
        assert "s3cret" not in repr(good)


async def test_bearer_auth():
    async with GateStandin(auth="bearer", tokens={"tok-123": "spinop-bot"}) as gate:
        async with GateClient(fast_settings(gate.url, auth=BearerAuth(Redacted("tok-123")))) as client:
            await client.save_pipeline(body())
        assert gate.state.pipelines["p-1"]["lastModifiedBy"] == "spinop-bot"


async def test_x509_over_https_with_file_and_inline_credentials():
    async with GateStandin(auth="x509", client_certs={"spinop": ["admins"], "alice": []}) as gate:
        cert = gate.client_certs["spinop"]
        by_path = X509Auth(cert_path=str(cert.cert_path), key_path=str(cert.key_path))
        async with GateClient(fast_settings(gate.url, ca_path=str(gate.ca_path), auth=by_path)) as client:
            await client.save_pipeline(body())
        assert gate.state.pipelines["p-1"]["lastModifiedBy"] == "spinop"
        assert gate.state.principal_roles["spinop"] == ["admins"]  # roles from the certificate's OID
        alice = gate.client_certs["alice"]
        inline = X509Auth(cert_pem=alice.cert_pem, key_pem=Redacted(alice.key_pem))
        assert gate.ca_path is not None
        async with GateClient(fast_settings(gate.url, ca_pem=gate.ca_path.read_text(), auth=inline)) as client:
            await client.save_pipeline(body(description="alice was here"))
        assert gate.state.pipelines["p-1"]["lastModifiedBy"] == "alice"
        assert "PRIVATE KEY" not in repr(inline)  # the certificate is public, the key is not


async def test_x509_without_trust_or_without_a_client_cert_fails():
    async with GateStandin(auth="x509") as gate:
        async with GateClient(fast_settings(gate.url, read_retries=0)) as client:
            with pytest.raises(GateUnauthorized, match="TLS"):
                await client.list_applications()  # Gate's certificate is not trusted
        async with GateClient(fast_settings(gate.url, ca_path=str(gate.ca_path), read_retries=0)) as client:
            with pytest.raises((GateUnauthorized, GateUnavailable)):
                await client.list_applications()  # no client certificate
        assert gate.state.pipelines == {}


def test_x509_settings_need_one_source_each():
    with pytest.raises(ValueError):
        X509Auth(cert_path="a", cert_pem="b", key_path="k")
    with pytest.raises(ValueError):
        X509Auth(cert_path="a")


# ---- account management API ----------------------------------------------------------------------------


def account(name: str, kubeconfig: str = "kubeconfig-v1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "kubernetes",
        "name": name,
        "namespaces": ["team-a-dev"],
        "kubeconfigContents": Redacted(kubeconfig),
        "permissions": {"READ": ["team-a"], "WRITE": ["team-a"]},
        **extra,
    }


async def test_rotation_reaches_clouddriver_without_a_deploy(gate, client):
    await client.create_account(account("dev-team-a"))
    assert gate.state.accounts["dev-team-a"]["kubeconfigContents"] == "kubeconfig-v1"
    gate.state.poll_credentials()
    before = gate.state.loaded_accounts["dev-team-a"].fingerprint
    await client.update_account(account("dev-team-a", kubeconfig="kubeconfig-v2"))
    gate.state.poll_credentials()
    loaded = gate.state.loaded_accounts["dev-team-a"]
    assert loaded.fingerprint != before and loaded.definition["kubeconfigContents"] == "kubeconfig-v2"
    assert [h["version"] for h in gate.state.account_history["dev-team-a"]] == [1, 2]
    [listed] = await client.list_accounts()
    assert isinstance(listed["kubeconfigContents"], Redacted)
    assert listed["kubeconfigContents"].reveal() == "kubeconfig-v2"
    [loaded_view] = await client.list_credentials()
    assert loaded_view["name"] == "dev-team-a" and loaded_view["authorized"] is False


async def test_a_deleted_account_can_be_created_again_once_clouddriver_unloaded_it(gate, client):
    await client.create_account(account("dev-team-a"))
    gate.state.poll_credentials()
    assert await client.delete_account("dev-team-a") is True
    assert await client.delete_account("dev-team-a") is False
    with pytest.raises(GateAccountExists):  # still loaded until the next poll
        await client.create_account(account("dev-team-a", kubeconfig="kubeconfig-v3"))
    gate.state.poll_credentials()
    await client.create_account(account("dev-team-a", kubeconfig="kubeconfig-v3"))
    assert gate.state.accounts["dev-team-a"]["kubeconfigContents"] == "kubeconfig-v3"
    calls = [(r.method, r.status) for r in gate.requests if r.path == "/credentials"]
    assert calls[-2:] == [("POST", 400), ("POST", 200)], "no PUT behind the caller's back"
    assert [h["deleted"] for h in gate.state.account_history["dev-team-a"]] == [False, True, False]


async def test_create_of_an_existing_account_is_refused_not_overwritten(gate, client):
    await client.create_account(account("dev-team-a"))
    with pytest.raises(GateAccountExists) as stored_only:  # stored, not loaded yet: the SQL insert fails
        await client.create_account(account("dev-team-a", kubeconfig="other"))
    gate.state.poll_credentials()
    with pytest.raises(GateAccountExists) as loaded:
        await client.create_account(account("dev-team-a", kubeconfig="other"))
    assert stored_only.value.status == 500 and loaded.value.status == 400
    assert "Cannot create an account which already exists" in loaded.value.message
    assert "other" not in str(loaded.value)
    assert gate.state.accounts["dev-team-a"]["kubeconfigContents"] == "kubeconfig-v1"


async def test_put_is_an_upsert_for_new_existing_and_deleted_names(gate, client):
    await client.update_account(account("a1"))
    await client.update_account(account("a1", kubeconfig="v2"))
    await client.delete_account("a1")
    await client.update_account(account("a1", kubeconfig="v3"))
    assert gate.state.accounts["a1"]["kubeconfigContents"] == "v3"
    assert len(gate.state.account_history["a1"]) == 4
    assert [r.status for r in gate.requests if r.method == "PUT"] == [200, 200, 200]


async def test_an_at_type_body_is_never_sent(gate, client):
    with pytest.raises(ValueError, match='"type"'):
        await client.create_account({**account("a1"), "@type": "kubernetes"})
    assert gate.requests == []


async def test_list_accounts_pages_through_everything(gate, client):
    for i in range(7):
        await client.create_account(account(f"acct-{i}"))
    gate.state.create_account({"type": "dockerRegistry", "name": "registry"}, "admin")
    names = [a["name"] for a in await client.list_accounts(page_size=3)]
    assert names == [f"acct-{i}" for i in range(7)]
    assert [a["name"] for a in await client.list_accounts(page_size=1)] == names


async def test_list_accounts_goes_on_after_a_short_page(gate, client):
    # Rows are dropped after clouddriver's SQL LIMIT (here: a secret it cannot decrypt), so a page may be short
    # while more remain (clouddriver-sql SqlAccountDefinitionRepository.listByType).
    for i in range(7):
        await client.create_account(account(f"acct-{i}"))
    for broken in ("acct-1", "acct-2"):
        gate.state.accounts[broken]["kubeconfigContents"] = "encrypted:s3!b:bucket!f:missing"
    names = [a["name"] for a in await client.list_accounts(page_size=3)]
    assert names == ["acct-0", "acct-3", "acct-4", "acct-5", "acct-6"]
    pages = [r.query for r in gate.requests if r.path == "/credentials/type/kubernetes"]
    assert pages[0] == "limit=3", "the first page came back with one row, and paging went on"
    assert len(pages) >= 3


@pytest.mark.parametrize("status", [400, 500])
async def test_secrets_in_a_definition_never_reach_error_messages(gate, client, status):
    # clouddriver's SQL repository echoes the whole definition in its errors ("Cannot create account with ...").
    def echoing_create(definition: dict[str, Any], user: str, roles: list[str] | None = None) -> dict[str, Any]:
        raise Rejected(f"Cannot create account with definition {json.dumps(definition)}", status)

    gate.state.create_account = echoing_create
    with pytest.raises((GateRejected, GateUnavailable)) as failed:
        await client.create_account(account("a1", kubeconfig="TOPSECRET"))
    assert "Cannot create account" in str(failed.value)
    assert "TOPSECRET" not in str(failed.value) and "<redacted>" in str(failed.value)


async def test_account_definitions_need_a_name_and_a_type(client):
    with pytest.raises(ValueError):
        await client.create_account({"name": "no-type"})


async def test_concurrent_saves_of_different_pipelines(gate, client):
    await asyncio.gather(*(client.save_pipeline(body(name=f"p{i}", pid=f"id{i}")) for i in range(10)))
    assert len(await client.list_pipeline_configs("shop")) == 10


async def test_a_body_that_is_not_json_is_our_error(gate, client):
    gate.fail_next(1, status=200, path="pipelineConfigs", body="<html>login through the proxy</html>")
    with pytest.raises(GateUnavailable, match="not JSON"):
        await client.list_pipeline_configs("shop")
    gate.fail_next(1, status=502, path="pipelineConfigs", body="<html>bad gateway</html>")
    assert await client.list_pipeline_configs("shop") == []
