"""The Halyard stand-in's REST API and task protocol, driven with raw HTTP (contract §2 and §3)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import yaml

from tests.standins.halyard import HalyardStandin
from tests.standins.halyard.halconfig import load_yaml, normalize_halconfig

from .conftest import ACCOUNTS, KUBE_DIR, Daemon, kubeconfig, poll, problems, stored_accounts

DEPLOY = "/v1/config/deployments/default/"


async def test_config_call_returns_a_task_that_polls_to_success_with_warnings(
    daemon: Daemon, standin: HalyardStandin
) -> None:
    status, task = await daemon.call("POST", ACCOUNTS, {"name": "prod", "namespaces": ["apps"]}, validate=True)
    assert status == 200
    assert task["state"] in ("NOT_STARTED", "RUNNING") and task["uuid"] and task["timeout"] == 60000
    assert set(task) >= {"uuid", "name", "state", "events", "children", "timeout", "response", "fatalError"}
    while task["state"] in ("NOT_STARTED", "RUNNING"):
        await asyncio.sleep(0.01)
        _, task = await daemon.call("GET", f"/v1/tasks/{task['uuid']}/")
    assert task["state"] == "SUCCEEDED"
    [warning] = problems(task)
    assert warning["severity"] == "WARNING"
    assert warning["location"] == "default.provider.kubernetes.prod"
    assert "providerVersion" in warning["message"]
    assert stored_accounts(standin)["prod"]["namespaces"] == ["apps"]


async def test_update_above_severity_is_reverted_and_failed(daemon: Daemon, standin: HalyardStandin) -> None:
    task = await daemon.run("POST", ACCOUNTS, {"name": "a", "kinds": ["Pod"], "omitKinds": ["Secret"]}, validate=True)
    assert task["state"] == "FAILED"
    assert task["fatalError"]["message"] == 'At most one of "kinds" and "omitKinds" may be specified.'
    errors = [p for p in problems(task) if p["severity"] == "ERROR"]
    assert errors[0]["location"] == "default.provider.kubernetes.a"
    assert "a" not in stored_accounts(standin)


async def test_severity_parameter_sets_the_threshold(daemon: Daemon, standin: HalyardStandin) -> None:
    body = {"name": "a", "kinds": ["Pod"], "omitKinds": ["Secret"]}
    task = await daemon.run("POST", ACCOUNTS, body, validate=True, severity="ERROR")
    assert task["state"] == "SUCCEEDED"  # ERROR is not *above* ERROR
    assert "a" in stored_accounts(standin)
    task = await daemon.run(
        "POST", ACCOUNTS, {"name": "b", "requiredGroupMembership": ["x"]}, validate=True, severity="INFO"
    )
    assert task["state"] == "FAILED"  # a WARNING is above INFO


async def test_validate_false_skips_validation_even_for_duplicates(daemon: Daemon, standin: HalyardStandin) -> None:
    for _ in range(2):
        assert (await daemon.run("POST", ACCOUNTS, {"name": "dup"}, validate=False))["state"] == "SUCCEEDED"
    assert [a["name"] for a in standin.kubernetes_accounts()] == ["dup", "dup"]
    task = await daemon.run("GET", ACCOUNTS + "account/dup/", validate=False)
    assert task["state"] == "FAILED"
    assert problems(task)[0]["message"] == 'More than one account named "dup" was found'


async def test_duplicate_names_across_providers_are_fatal(daemon: Daemon, standin: HalyardStandin) -> None:
    hc = yaml.safe_load(standin.halconfig_text())
    hc["deploymentConfigurations"][0]["providers"]["dockerRegistry"] = {
        "enabled": True,
        "accounts": [{"name": "shared", "address": "index.docker.io"}],
    }
    standin.write_halconfig_text(yaml.safe_dump(hc))
    task = await daemon.run("POST", ACCOUNTS, {"name": "shared"}, validate=True)
    assert task["state"] == "FAILED"
    [fatal] = [p for p in problems(task) if p["severity"] == "FATAL"]
    assert fatal["message"] == 'Account "shared" appears more than once'
    assert fatal["location"] == "default.provider"
    assert "shared" not in stored_accounts(standin)


@pytest.mark.parametrize(
    ("account", "severity", "message"),
    [
        ({"name": "a", "customResources": [{"spinnakerKind": "x"}]}, "ERROR", "Missing custom resource name"),
        ({"name": "a", "cacheThreads": -1}, "ERROR", '"cacheThreads" should be greater or equal to 0.'),
        ({"namespaces": ["x"]}, "FATAL", "Account name must be specified"),
        ({"name": "a", "requiredGroupMembership": ["g"]}, "WARNING", "requiredGroupMembership has been deprecated"),
        (
            {"name": "a", "kinds": ["Pod"], "customResources": [{"kubernetesKind": "Foo"}]},
            "WARNING",
            "will not be cached",
        ),
    ],
)
async def test_account_validators(daemon: Daemon, account: dict[str, Any], severity: str, message: str) -> None:
    task = await daemon.run("POST", ACCOUNTS, account, validate=True)
    found = [p for p in problems(task) if p["severity"] == severity and message in p["message"]]
    assert found, problems(task)
    assert task["state"] == ("SUCCEEDED" if severity == "WARNING" else "FAILED")


async def test_enabled_provider_without_accounts_warns(daemon: Daemon, standin: HalyardStandin) -> None:
    task = await daemon.run("PUT", DEPLOY + "providers/kubernetes/enabled/", True, validate=True)
    assert task["state"] == "SUCCEEDED"
    assert problems(task) == [
        {
            "message": "Provider kubernetes is enabled, but no accounts have been configured.",
            "remediation": None,
            "options": None,
            "severity": "WARNING",
            "location": "default.provider.kubernetes",
        }
    ]
    assert "kubernetes:\n      enabled: true" in standin.halconfig_text()


async def test_unknown_account_keys_are_dropped_silently(daemon: Daemon, standin: HalyardStandin) -> None:
    # AccountController converts the body with the daemon's DefaultObjectMapper, which sets
    # FAIL_ON_UNKNOWN_PROPERTIES false (spinnaker/halyard halyard-config/.../config/v1/DefaultObjectMapper.java):
    # a misspelled field is lost without a problem, and so is one nested in a known object.
    body = {"name": "a", "kubeconfig": "/x", "customResources": [{"kubernetesKind": "Foo", "kindd": "x"}]}
    task = await daemon.run("POST", ACCOUNTS, body, validate=True)
    assert task["state"] == "SUCCEEDED"
    stored = stored_accounts(standin)["a"]
    assert "kubeconfig" not in stored and stored["customResources"] == [{"kubernetesKind": "Foo", "versioned": False}]
    task = await daemon.run("PUT", ACCOUNTS + "account/a/", {"name": "a", "contxt": "typo"}, validate=True)
    assert task["state"] == "SUCCEEDED" and "contxt" not in stored_accounts(standin)["a"]


async def test_bad_bodies_are_http_errors(daemon: Daemon, standin: HalyardStandin) -> None:
    status, body = await daemon.call("POST", ACCOUNTS, {"name": "a", "permissions": {"read": ["x"]}})
    assert status == 400 and "Authorization" in body["problemSet"]["problems"][0]["message"]
    async with aiohttp.ClientSession() as s, s.post(standin.daemon_url + ACCOUNTS, data=b"{not json") as resp:
        assert resp.status == 400
    assert stored_accounts(standin) == {}


async def test_hand_edited_halconfig_with_unknown_key_fails_to_load(daemon: Daemon, standin: HalyardStandin) -> None:
    await daemon.run("POST", ACCOUNTS, {"name": "a"}, validate=True)
    hc = yaml.safe_load(standin.halconfig_text())
    hc["deploymentConfigurations"][0]["providers"]["kubernetes"]["accounts"][0]["bogusKey"] = 1
    standin.write_halconfig_text(yaml.safe_dump(hc))
    task = await daemon.run("GET", DEPLOY + "providers/kubernetes/", validate=False)
    assert task["state"] == "FAILED"
    assert 'Could not translate your halconfig: Unrecognized field "bogusKey"' in problems(task)[0]["message"]


async def test_accounts_list_is_fatal_when_empty(daemon: Daemon) -> None:
    task = await daemon.run("GET", ACCOUNTS)
    assert task["state"] == "FAILED" and problems(task)[0]["message"] == "No accounts could be found"
    await daemon.run("POST", ACCOUNTS, {"name": "a"})
    task = await daemon.run("GET", ACCOUNTS)
    assert [a["name"] for a in task["response"]["responseBody"]] == ["a"]


async def test_replace_picks_by_path_name_and_can_rename(daemon: Daemon, standin: HalyardStandin) -> None:
    await daemon.run("POST", ACCOUNTS, {"name": "old", "namespaces": ["a"]}, validate=True)
    task = await daemon.run("PUT", ACCOUNTS + "account/old/", {"name": "new", "namespaces": ["b"]}, validate=True)
    assert task["state"] == "SUCCEEDED"
    assert list(stored_accounts(standin)) == ["new"]
    task = await daemon.run("DELETE", ACCOUNTS + "account/old/", validate=True)
    assert task["state"] == "FAILED" and problems(task)[0]["message"] == 'Account "old" wasn\'t found'


async def test_kubeconfig_default_is_filled_unless_service_account(daemon: Daemon, standin: HalyardStandin) -> None:
    await daemon.run("POST", ACCOUNTS, {"name": "file"})
    await daemon.run("POST", ACCOUNTS, {"name": "sa", "serviceAccount": True, "kubeconfigFile": "/ignored"})
    accounts = stored_accounts(standin)
    assert accounts["file"]["kubeconfigFile"] == "/home/spinnaker/.kube/config"
    assert "kubeconfigFile" not in accounts["sa"]
    assert "context" not in accounts["file"]  # nulls are omitted


async def test_unknown_provider_is_a_synchronous_404(daemon: Daemon) -> None:
    status, body = await daemon.call("POST", ACCOUNTS.replace("kubernetes", "nimbus"), {"name": "a"})
    assert status == 404 and body["responseBody"] is None
    assert body["problemSet"]["problems"][0]["message"] == 'No provider with name "nimbus" could be found'
    task = await daemon.run("GET", DEPLOY + "providers/nimbus/")
    assert task["state"] == "FAILED"  # inside a task the same problem fails the task instead


async def test_only_exact_paths_exist(daemon: Daemon) -> None:
    status, _ = await daemon.call("GET", "/v1/config/currentDeployment")
    assert status == 404
    status, body = await daemon.call("GET", "/health")
    assert (status, body) == (200, {"status": "UP"})
    status, body = await daemon.call("GET", "/v1/tasks/00000000-0000-0000-0000-000000000000/")
    assert (status, body) == (200, None)


async def test_current_deployment_features_and_deployments(daemon: Daemon) -> None:
    task = await daemon.run("GET", "/v1/config/currentDeployment/")
    assert task["response"]["responseBody"] == "default"
    task = await daemon.run("PUT", DEPLOY + "features/", {"chaos": True, "artifacts": True}, validate=True)
    assert task["state"] == "SUCCEEDED"
    task = await daemon.run("GET", DEPLOY + "features/")
    assert task["response"]["responseBody"] == {"chaos": True, "artifacts": True}
    status, _ = await daemon.call("PUT", DEPLOY + "features/", {"gremlins": True})
    assert status == 400
    task = await daemon.run("PUT", "/v1/config/currentDeployment/", {"value": "other"})
    assert task["state"] == "SUCCEEDED"
    task = await daemon.run("GET", "/v1/config/deployments/")
    assert [d["name"] for d in task["response"]["responseBody"]] == ["default", "other"]
    task = await daemon.run("GET", "/v1/config/")
    assert task["response"]["responseBody"]["currentDeployment"] == "other"


async def _add_file_account(daemon: Daemon, name: str, **extra: Any) -> None:
    body = {"name": name, "kubeconfigFile": f"{KUBE_DIR}/{name}.yaml", **extra}
    assert (await daemon.run("POST", ACCOUNTS, body, validate=True))["state"] == "SUCCEEDED"


async def test_missing_kubeconfig_is_fatal_at_deploy_not_at_add_or_prep(
    daemon: Daemon, standin: HalyardStandin
) -> None:
    # Deployer.prep's default does nothing for kubectl deploys and returns an empty script with autoRun true
    # (spinnaker/halyard halyard-deploy/.../deployment/v1/Deployer.java, halyard-core/.../core/RemoteAction.java);
    # the kubeconfig is first read by BackupService when deploy stages the files.
    await daemon.run("PUT", DEPLOY + "providers/kubernetes/enabled/", True)
    await _add_file_account(daemon, "prod")
    task = await daemon.run("POST", DEPLOY + "prep/", "", validate=True)
    assert task["state"] == "SUCCEEDED"
    assert task["response"]["responseBody"] == {"scriptPath": None, "scriptDescription": None, "autoRun": True}
    task = await daemon.run("POST", DEPLOY + "deploy/", "", validate=False, serviceNames="clouddriver")
    assert task["state"] == "FAILED" and problems(task)[0]["severity"] == "FATAL"
    assert problems(task)[0]["message"] == f"Failed to backup user file: {KUBE_DIR}/prod.yaml"
    assert standin.deploys == []


async def test_context_less_kubeconfig_passes_prep(daemon: Daemon, standin: HalyardStandin) -> None:
    await daemon.run("PUT", DEPLOY + "providers/kubernetes/enabled/", True)
    await _add_file_account(daemon, "prod")
    standin.write_pod_file(f"{KUBE_DIR}/prod.yaml", kubeconfig(current=False))
    assert (await daemon.run("POST", DEPLOY + "prep/", "", validate=True))["state"] == "SUCCEEDED"


async def test_live_manifest_calls_warns_only_when_true(daemon: Daemon) -> None:
    # FieldValidator skips a field set to false ("it's assumed it's not enabling a restricted feature") and
    # KubernetesAccount gates liveManifestCalls at upperBound 1.23.0 (spinnaker/halyard halyard-config/.../config/
    # validate/v1/FieldValidator.java, .../model/v1/providers/kubernetes/KubernetesAccount.java).
    def live(task: dict[str, Any]) -> list[str]:
        return [p["message"] for p in problems(task) if "liveManifestCalls" in p["message"]]

    task = await daemon.run("POST", ACCOUNTS, {"name": "off", "liveManifestCalls": False}, validate=True)
    assert task["state"] == "SUCCEEDED" and live(task) == []
    task = await daemon.run("POST", ACCOUNTS, {"name": "on", "liveManifestCalls": True}, validate=True)
    assert live(task) == [
        "Field KubernetesAccount.liveManifestCalls not supported for Spinnaker version 1.36.1: "
        "Live manifest mode no longer necessary as of 1.23.0."
    ]


async def test_kubeconfig_without_any_context_is_fatal(daemon: Daemon, standin: HalyardStandin) -> None:
    await daemon.run("PUT", DEPLOY + "providers/kubernetes/enabled/", True)
    await _add_file_account(daemon, "prod")
    standin.write_pod_file(f"{KUBE_DIR}/prod.yaml", kubeconfig(current=False))
    task = await daemon.run("POST", DEPLOY + "deploy/", "", serviceNames="clouddriver")
    assert task["state"] == "FAILED"
    assert "No context specified in kubernetes account prod and no 'current-context'" in problems(task)[0]["message"]
    await daemon.run(
        "PUT",
        ACCOUNTS + "account/prod/",
        {"name": "prod", "context": "remote", "kubeconfigFile": f"{KUBE_DIR}/prod.yaml"},
    )
    task = await daemon.run("POST", DEPLOY + "deploy/", "", serviceNames="clouddriver")
    assert task["state"] == "SUCCEEDED"


async def test_deploy_copies_kubeconfigs_and_records_one_child_per_service(
    daemon: Daemon, standin: HalyardStandin
) -> None:
    await daemon.run("PUT", DEPLOY + "providers/kubernetes/enabled/", True)
    await _add_file_account(daemon, "prod")
    await daemon.run("POST", ACCOUNTS, {"name": "remote-ref", "kubeconfigFile": "encryptedFile:s3!b:bucket!f:kc"})
    await daemon.run("POST", ACCOUNTS, {"name": "in-cluster", "serviceAccount": True})
    standin.write_pod_file(f"{KUBE_DIR}/prod.yaml", kubeconfig())
    task = await daemon.run(
        "POST",
        DEPLOY + "deploy/",
        "",
        validate=False,
        serviceNames=["CloudDriver", "ECHO_scheduler"],
        deployOptions="WAIT_FOR_COMPLETION",
        waitForCompletionTimeoutMinutes=3,
    )
    assert task["state"] == "SUCCEEDED"
    assert [c["name"] for c in task["children"]] == ["Deploy spin-clouddriver", "Deploy spin-echo-scheduler"]
    assert all(c["state"] == "SUCCEEDED" and c["timeout"] == 180000 for c in task["children"])
    [record] = standin.deploys
    assert record["serviceNames"] == ["clouddriver", "echo-scheduler"]
    assert record["deployOptions"] == ["WAIT_FOR_COMPLETION"] and record["waitForCompletionTimeoutMinutes"] == 3
    assert list(record["kubeconfigs"]) == ["prod"]
    copied = record["kubeconfigs"]["prod"]
    assert copied["content"] == kubeconfig().decode()
    assert standin.pod_file(copied["stagedPath"]) == kubeconfig()
    assert [a["name"] for a in record["accounts"]] == ["prod", "remote-ref", "in-cluster"]


async def test_service_names_match_exactly_without_expansion(daemon: Daemon, standin: HalyardStandin) -> None:
    task = await daemon.run("POST", DEPLOY + "deploy/", "", serviceNames="clouddriver")
    assert [c["name"] for c in task["children"]] == ["Deploy spin-clouddriver"]
    task = await daemon.run("POST", DEPLOY + "deploy/", "", serviceNames="cloud-drivr")
    assert task["state"] == "FAILED"
    assert problems(task)[0]["message"] == (
        "Unexpected exception: java.lang.IllegalArgumentException: No service with canonical name cloud-drivr exists."
    )
    task = await daemon.run("POST", DEPLOY + "deploy/", "", excludeServiceNames="deck,gate")
    assert "Deploy spin-deck" not in [c["name"] for c in task["children"]]
    assert len(task["children"]) == 7


async def test_interrupt_and_task_list(daemon: Daemon, standin: HalyardStandin) -> None:
    standin.daemon.settings.deploy_seconds = 30
    status, task = await daemon.call("POST", DEPLOY + "deploy/", "", serviceNames="clouddriver")
    uuid = task["uuid"]

    async def has_child() -> bool:
        return bool((await daemon.call("GET", f"/v1/tasks/{uuid}/"))[1]["children"])

    await poll(has_child)
    _, listing = await daemon.call("GET", "/v1/tasks/")
    assert uuid in [t["uuid"] for t in listing["tasks"]]
    status, _ = await daemon.call("PUT", f"/v1/tasks/{uuid}/interrupt", "")
    assert status == 200
    await poll(lambda: standin.daemon.registry.tasks[uuid].state.terminal)
    _, final = await daemon.call("GET", f"/v1/tasks/{uuid}/")
    assert final["state"] == "INTERRUPTED" and final["children"][0]["state"] == "INTERRUPTED"
    assert standin.deploys[0]["state"] == "INTERRUPTED"
    status, _ = await daemon.call("PUT", "/v1/tasks/nope/interrupt", "")
    assert status == 404


async def test_concurrent_mutations_are_detected_and_race(daemon: Daemon, standin: HalyardStandin) -> None:
    standin.daemon.settings.task_latency_s = 0.2
    tasks = await asyncio.gather(*(daemon.run("POST", ACCOUNTS, {"name": n}) for n in ("a", "b")))
    assert all(t["state"] == "SUCCEEDED" for t in tasks)
    report = standin.concurrency_report()
    assert report["maxConcurrent"] == 2 and len(report["overlaps"]) == 1
    assert len(stored_accounts(standin)) == 1  # no locking in Halyard: the last writer wins


async def test_faults_http500_latency_and_down(daemon: Daemon, standin: HalyardStandin) -> None:
    standin.http500(1, path="/accounts/")
    status, _ = await daemon.call("GET", "/health")
    assert status == 200  # the path filter spares other requests
    status, _ = await daemon.call("POST", ACCOUNTS, {"name": "a"})
    assert status == 500
    status, _ = await daemon.call("POST", ACCOUNTS, {"name": "a"})
    assert status == 200
    await standin.go_down("refuse")
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as s:
            await s.get(standin.daemon_url + "/health")
    await standin.come_up()
    await standin.go_down("drop")
    with pytest.raises(aiohttp.ClientError):
        async with aiohttp.ClientSession() as s:
            await s.get(standin.daemon_url + "/health")
    await standin.come_up()
    status, _ = await daemon.call("GET", "/health")
    assert status == 200


async def test_failed_and_timed_out_tasks_change_nothing(daemon: Daemon, standin: HalyardStandin) -> None:
    standin.fail_next_task("disk full", location="default")
    task = await daemon.run("POST", ACCOUNTS, {"name": "a"})
    assert task["state"] == "FAILED" and problems(task)[0]["message"] == "disk full"
    standin.time_out_next_task()
    task = await daemon.run("POST", ACCOUNTS, {"name": "a"})
    assert task["state"] == "TIMED_OUT" and task["timedOut"] is True
    assert stored_accounts(standin) == {}
    assert (await daemon.run("POST", ACCOUNTS, {"name": "a"}))["state"] == "SUCCEEDED"
    standin.time_out_next_task(reads=True)
    assert (await daemon.run("GET", "/v1/config/currentDeployment/"))["state"] == "TIMED_OUT"


async def test_deploy_failing_half_way(daemon: Daemon, standin: HalyardStandin) -> None:
    standin.fail_next_deploy()
    task = await daemon.run("POST", DEPLOY + "deploy/", "")
    assert task["state"] == "FAILED"
    states = {c["name"]: c["state"] for c in task["children"]}
    assert list(states.values()).count("FAILED") == 1 and states["Deploy spin-gate"] == "FAILED"  # the middle one
    assert standin.deploys[0]["state"] == "FAILED"
    assert problems(task)[0]["message"].startswith("Unexpected exception: java.lang.IllegalStateException")


async def test_remembered_halconfig_is_what_the_file_says(daemon: Daemon, standin: HalyardStandin) -> None:
    store = standin.daemon.store
    for name in ("a", "b"):
        await daemon.run("POST", ACCOUNTS, {"name": name, "namespaces": ["apps"]}, validate=True)
    # What the stand-in remembered from its own save equals a fresh parse of the file ...
    assert store.load() == normalize_halconfig(load_yaml(store.read_text()))
    # ... each load is a copy of its own ...
    store.load()["deploymentConfigurations"].clear()
    assert set(stored_accounts(standin)) == {"a", "b"}
    # ... and a write by someone else (a test, a human with an editor) is seen at once.
    standin.write_halconfig_text(store.read_text().replace("name: b", "name: c"))
    task = await daemon.run("GET", ACCOUNTS)
    assert sorted(a["name"] for a in task["response"]["responseBody"]) == ["a", "c"]


async def test_airgapped_daemon_times_out_every_validated_change(daemon: Daemon, standin: HalyardStandin) -> None:
    # Validation always visits the deployment node; DeploymentConfigurationValidator asks VersionsService for
    # versions.yml from the GCS bucket, whose client waits 2 minutes to connect, twice
    # (spinnaker/halyard halyard-config/.../validate/v1/DeploymentConfigurationValidator.java, .../services/v1/
    # VersionsService.java, halyard-core/.../provider/v1/google/GoogleCredentials.java, .../registry/v1/
    # GoogleProfileReader.java), beyond the 1-minute TaskRepository.DEFAULT_TIMEOUT. The Interrupter only sets
    # timedOut and interrupts the thread, which a blocking connect ignores: RUNNING with timedOut true, then
    # TIMED_OUT once the lookup gives up (DaemonTask.inFailedState), and nothing saved.
    standin.go_airgapped(network_timeout_s=1.5, config_task_timeout_s=0.3)
    status, task = await daemon.call("POST", ACCOUNTS, {"name": "a"}, validate=True)
    assert status == 200
    seen: list[tuple[str, bool]] = []

    async def ended() -> bool:
        _, polled = await daemon.call("GET", f"/v1/tasks/{task['uuid']}/")
        seen.append((polled["state"], polled["timedOut"]))
        return bool(polled["state"] == "TIMED_OUT")

    await poll(ended, within=5)
    assert ("RUNNING", True) in seen  # overdue, still blocked in the lookup
    assert stored_accounts(standin) == {}
    task = await daemon.run("POST", ACCOUNTS, {"name": "a"}, validate=False)
    assert task["state"] == "SUCCEEDED" and set(stored_accounts(standin)) == {"a"}
    assert (await daemon.run("POST", DEPLOY + "prep/", "", validate=False))["state"] == "SUCCEEDED"
