"""One view of "Spinnaker" per backend, so the sync tests read the same for Halyard and the accounts API.

Each view answers, from the stand-ins (never from the operator's own claims): what Spinnaker has now, which backend
changes carried spinop's batches and how many clouddriver redeploys they cost, which credentials clouddriver has
loaded, and how to inject a fault of each kind. Backend-specific expectations live here too, next to the facts
they are about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from tests.integration.kube import wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.spinnaker.standins import GateStandinProcess, HalyardStandinProcess

#: Fault kinds every backend can suffer, by what they do to spinop (each view says what each means for it).
FAULTS = ("down", "http500", "stalls", "fails-half-way", "slow")


@dataclass(frozen=True)
class Change:
    """One backend change that carried a batch: a Halyard deploy, or an accounts-API batch."""

    id: str
    succeeded: bool
    redeployed: tuple[str, ...]  # the services it redeployed
    status_id: str | None  # the id spinop writes to status.lastDeploy, when the test can know it


@dataclass(frozen=True)
class Mark:
    deploys: int
    log_offset: int


def kubeconfig_token(text: str | None) -> str | None:
    if not text:
        return None
    return str(yaml.safe_load(text)["users"][0]["user"]["token"])


class SpinnakerView:
    """What every view shares: the Halyard stand-in, whose deploy records are the clouddriver redeploys."""

    backend: str
    redeployed_services: tuple[str, ...]  # what one change redeploys
    redeploys_per_change: int  # clouddriver deploys one change costs

    def __init__(self, halyard: HalyardStandinProcess, operator: OperatorProcess) -> None:
        self.halyard = halyard
        self.operator = operator

    def mark(self) -> Mark:
        return Mark(len(self.halyard.deploys()), len(self.operator.log()))

    def redeploys_since(self, mark: Mark) -> list[dict[str, Any]]:
        return self.halyard.deploys()[mark.deploys :]

    # what each backend answers
    def changes_since(self, mark: Mark) -> list[Change]:
        raise NotImplementedError

    def accounts(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def loaded_token(self, name: str) -> str | None:
        raise NotImplementedError

    def check_written_by_spinop(self, name: str, stored: dict[str, Any]) -> None:
        raise NotImplementedError

    def add_unmanaged(self, account: dict[str, Any], kubeconfig: str) -> dict[str, Any]:
        raise NotImplementedError

    def untouched(self, name: str, original: dict[str, Any]) -> bool:
        raise NotImplementedError

    def inject(self, fault: str) -> str | None:
        raise NotImplementedError

    def clear_faults(self) -> None:
        raise NotImplementedError

    def overlaps(self) -> list[Any]:
        raise NotImplementedError


class HalyardView(SpinnakerView):
    """Halyard's config is what Spinnaker has; clouddriver has what the last successful deploy copied."""

    redeployed_services = ("clouddriver",)
    redeploys_per_change = 1

    def __init__(self, halyard: HalyardStandinProcess, operator: OperatorProcess, transport: str) -> None:
        super().__init__(halyard, operator)
        self.transport = transport
        self.backend = f"halyard-{transport}"

    def changes_since(self, mark: Mark) -> list[Change]:
        return [
            Change(
                d["taskUuid"],
                d["state"] == "SUCCEEDED",
                tuple(d["serviceNames"]),
                # `hal deploy apply` over exec prints no task id: spinop names the change itself.
                d["taskUuid"] if self.transport == "rest" else None,
            )
            for d in self.redeploys_since(mark)
        ]

    def accounts(self) -> dict[str, dict[str, Any]]:
        return self.halyard.accounts()

    def _last_deployed(self, name: str) -> dict[str, Any] | None:
        succeeded = [d for d in self.halyard.deploys() if d["state"] == "SUCCEEDED"]
        return succeeded[-1]["kubeconfigs"].get(name) if succeeded else None

    def loaded_token(self, name: str) -> str | None:
        copied = self._last_deployed(name)
        return kubeconfig_token(copied["content"]) if copied else None

    def check_written_by_spinop(self, name: str, stored: dict[str, Any]) -> None:
        # What Halyard's validators demand (contracts/halyard.md §3), and the deploy copied the file Halyard reads.
        assert stored["providerVersion"] == "V2"
        copied = self._last_deployed(name)
        assert copied is not None and copied["path"] == stored["kubeconfigFile"]

    def add_unmanaged(self, account: dict[str, Any], kubeconfig: str) -> dict[str, Any]:
        """An account someone added with `hal` long ago."""
        account = {**account, "providerVersion": "V2"}
        self.halyard.control("PUT", f"/_standin/pod-file?path={account['kubeconfigFile']}", kubeconfig)
        config = self.halyard.halconfig()
        deployment = config["deploymentConfigurations"][0]
        provider = deployment.setdefault("providers", {}).setdefault("kubernetes", {"enabled": True, "accounts": []})
        provider["enabled"] = True
        provider["accounts"] = [a for a in provider.get("accounts") or [] if a["name"] != account["name"]]
        provider["accounts"].append(account)
        self.halyard.control("PUT", "/_standin/halconfig", yaml.safe_dump(config, sort_keys=False))
        return dict(account)

    def untouched(self, name: str, original: dict[str, Any]) -> bool:
        # Halyard re-serializes the file with defaults on every write: compare the fields the owner set.
        live = self.accounts()[name]
        return {key: live.get(key) for key in original} == original

    def inject(self, fault: str) -> str | None:
        faults: dict[str, tuple[dict[str, Any], str | None]] = {
            "down": ({"down": "refuse"}, "HalyardUnavailable"),
            "http500": ({"http500": {"count": 1000}}, "HalyardUnavailable"),
            "stalls": ({"timeout_next": {}}, None),  # a Halyard task that never finishes
            "fails-half-way": ({"deploy_fail": {}}, None),  # a service of the deploy fails
            "slow": ({"latency_s": 0.5}, None),
        }
        spec, reason = faults[fault]
        self.halyard.faults(**spec)
        return reason

    def clear_faults(self) -> None:
        self.halyard.clear_faults()

    def overlaps(self) -> list[Any]:
        return list(self.halyard.concurrency()["overlaps"])


_CHANGE_LINE = re.compile(r"accounts-api change (\S+) carried (\d+) account change")


class AccountsApiView(SpinnakerView):
    """The stored definitions are what Spinnaker has; the Gate stand-in's clouddriver shows what its poller loaded."""

    backend = "accounts-api"
    redeployed_services = ()
    redeploys_per_change = 0

    def __init__(self, gate: GateStandinProcess, halyard: HalyardStandinProcess, operator: OperatorProcess) -> None:
        super().__init__(halyard, operator)
        self.gate = gate
        self._versions: dict[str, int] = {}

    def changes_since(self, mark: Mark) -> list[Change]:
        # The API keeps no batch id; spinop logs one line per change and writes its id to each account's status.
        text = self.operator.log()[mark.log_offset :]
        return [Change(m.group(1), True, (), m.group(1)) for m in _CHANGE_LINE.finditer(text)]

    def accounts(self) -> dict[str, dict[str, Any]]:
        return dict(self.gate.state()["accounts"])

    def loaded_token(self, name: str) -> str | None:
        loaded = self.gate.state()["loadedAccounts"].get(name)
        return kubeconfig_token(loaded["account"].get("kubeconfigContents")) if loaded else None

    def check_written_by_spinop(self, name: str, stored: dict[str, Any]) -> None:
        # Clouddriver's ManagedAccount shape, with the kubeconfig inline (no file clouddriver would have to read).
        assert stored["type"] == "kubernetes" and "@type" not in stored
        assert "providerVersion" not in stored and "kubeconfigFile" not in stored
        assert kubeconfig_token(stored["kubeconfigContents"])

    def add_unmanaged(self, account: dict[str, Any], kubeconfig: str) -> dict[str, Any]:
        """An account alice stored through the API (`PUT /credentials`, clouddriver's upsert)."""
        body = {**account, "type": "kubernetes", "kubeconfigContents": kubeconfig}
        status, answer = self.gate.call("alice", "PUT", "/credentials", body)
        assert status == 200, (status, answer)
        self._versions[account["name"]] = len(self.gate.state()["accountHistory"][account["name"]])
        return {**account, "type": "kubernetes"}

    def untouched(self, name: str, original: dict[str, Any]) -> bool:
        live = self.accounts()[name]
        history = self.gate.state()["accountHistory"][name]
        return {key: live.get(key) for key in original} == original and len(history) == self._versions[name]

    def inject(self, fault: str) -> str | None:
        faults: dict[str, tuple[dict[str, Any], str | None]] = {
            # The control API goes down with the listener: Gate comes back by itself after 30 s.
            "down": ({"down": {"seconds": 30}}, "GateUnavailable"),
            "http500": ({"failNext": {"count": 100000, "status": 500}}, "GateUnavailable"),
            "stalls": ({"rateLimit": {"capacity": 2, "windowSeconds": 1, "resetHeader": "epoch-ms"}}, None),
            "fails-half-way": (
                {"failNext": {"count": 2, "status": 503, "path": "^/credentials$", "method": "POST"}},
                None,
            ),
            "slow": ({"latency": {"seconds": 0.5}}, None),
        }
        spec, reason = faults[fault]
        self.gate.faults(**spec)
        if fault == "down":
            wait_for(lambda: not self.gate.is_up(), timeout=5, what="the Gate stand-in down")
        return reason

    def clear_faults(self) -> None:
        wait_for(self.gate.is_up, timeout=40, what="the Gate stand-in back up")
        self.gate.clear_faults()

    def overlaps(self) -> list[Any]:
        return []  # definitions are independent rows: writes of different accounts may run at once
