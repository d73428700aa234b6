"""The Halyard stand-in for the reliability suites: started with a chosen deploy duration, read without the
operator's help (halconfig as stored, deploy records, the concurrency report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.integration.spinnaker.standins import HalyardStandinProcess


def start_halyard(root: Path, mgmt_kubeconfig: Path, deploy_seconds: float) -> HalyardStandinProcess:
    """`python -m tests.standins.halyard` on loopback; its exec endpoint authorizes with MGMT's TokenReview/SAR."""
    return HalyardStandinProcess.start(root, mgmt_kubeconfig, deploy_seconds)


def halyard_settings(halyard: HalyardStandinProcess, **overrides: Any) -> dict[str, Any]:
    """Operator settings for the stand-in: REST transport, kubeconfigs written over pods/exec, short batches."""
    return {
        "url": halyard.daemon_url,
        "transport": "rest",
        "pod_namespace": halyard.namespace,
        "pod_name": halyard.pod,
        "exec_server": halyard.kube_url,
        "kubeconfig_delivery": "exec",
        "quiet_seconds": 1,
        "max_wait_seconds": 5,
        "deploy_timeout_minutes": 2,
        **overrides,
    }


def halconfig_account_names(halyard: HalyardStandinProcess) -> list[str]:
    """Kubernetes account names as stored in the halconfig, duplicates included (a dict would hide them)."""
    config = yaml.safe_load(halyard.control("GET", "/_standin/halconfig", raw=True))
    names: list[str] = []
    for deployment in config.get("deploymentConfigurations") or []:
        kubernetes = (deployment.get("providers") or {}).get("kubernetes") or {}
        names += [str(a.get("name")) for a in kubernetes.get("accounts") or []]
    return names


def succeeded_deploys(halyard: HalyardStandinProcess) -> list[dict[str, Any]]:
    return [d for d in halyard.deploys() if d["state"] == "SUCCEEDED"]


def running_deploy(halyard: HalyardStandinProcess) -> str | None:
    """The task uuid of the deploy running now, if any (labels read `Apply deployment (<uuid>)`)."""
    for label in halyard.concurrency()["running"]:
        if label.startswith("Apply deployment ("):
            return str(label.removeprefix("Apply deployment (").rstrip(")"))
    return None


def add_unmanaged_account(halyard: HalyardStandinProcess, name: str, namespace: str) -> dict[str, Any]:
    """An account someone added with `hal` long ago (spinop's inventory does not know it)."""
    path = f"/home/spinnaker/.hal/legacy/{name}.yaml"
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "legacy", "cluster": {"server": "https://legacy.example:6443"}}],
            "users": [{"name": "legacy", "user": {"token": "legacy-token-not-spinops"}}],
            "contexts": [{"name": "legacy", "context": {"cluster": "legacy", "user": "legacy"}}],
            "current-context": "legacy",
        }
    )
    halyard.control("PUT", f"/_standin/pod-file?path={path}", kubeconfig)
    account = {
        "name": name,
        "providerVersion": "V2",
        "context": "legacy",
        "kubeconfigFile": path,
        "namespaces": [namespace],
        "permissions": {"READ": ["ops"], "WRITE": ["ops"]},
    }
    config = halyard.halconfig()
    provider = config["deploymentConfigurations"][0].setdefault("providers", {}).setdefault("kubernetes", {})
    provider["enabled"] = True
    provider["accounts"] = [a for a in provider.get("accounts") or [] if a["name"] != name] + [account]
    halyard.control("PUT", "/_standin/halconfig", yaml.safe_dump(config, sort_keys=False))
    return account
