"""`spinop demo`: the README's main command, a complete local installation.

1. builds (first time) and starts real control planes: mgmt, dev, staging, prod;
2. installs deploy/base in mgmt as production does, minus what needs a kubelet (the control planes have none):
   CRDs, RBAC, the finalizer-guard admission policy and the self-signed webhook's configuration, its calls pointed
   at the local operator; deploy/remote (spinop's limited identity) on dev/staging/prod, registered with kubeconfigs
   of that identity (Secrets in `devops`), never cluster-admin;
3. starts the Halyard and Gate stand-ins (test doubles from tests/standins: Spinnaker cannot run here); Halyard's
   pods/exec endpoint authorizes the operator against mgmt's RBAC (TokenReview and SubjectAccessReview);
4. runs the operator against mgmt as a local process under deploy/base's ServiceAccount spinop-system/spinop (a
   token kubeconfig, not the admin's), with the Halyard backend, the webhook on and pipelines through Gate;
5. applies deploy/samples (team-a's accounts on the three clusters and two pipelines);
6. prints a live table until every account and pipeline is Ready (or explains the first error), and keeps running
   until Ctrl-C, which stops everything: no process is left behind.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import kubernetes.client as k8s
import yaml
from kubernetes.client.rest import ApiException
from kubernetes.config import new_client_from_config

from spinop import GROUP, VERSION
from spinop.api.conditions import raw_condition
from spinop.api.reasons import NEEDS_A_PERSON  # what the demo explains at once: only a person can fix it
from spinop.devcluster.build import ensure_binaries
from spinop.devcluster.controlplane import DEFAULT_CLUSTERS, ControlPlanes, free_port
from spinop.devcluster.manifests import (
    MGMT_INSTALL_KINDS,
    OPERATOR_NAMESPACE,
    OPERATOR_SERVICE_ACCOUNT,
    REMOTE_KINDS,
    REMOTE_NAMESPACE,
    REMOTE_SERVICE_ACCOUNT,
    apply_objects,
    remote_dir,
    render,
    request_token,
    sample_allowed_extra_rules,
    select,
    serve_webhooks_at,
    token_kubeconfig,
    write_kubeconfig,
)
from spinop.devcluster.paths import build_dir, project_root
from spinop.remote.identity import allow_extra_rules

REMOTES = ("dev", "staging", "prod")
CREDENTIALS_NAMESPACE = "devops"
# The demo's ServiceAccount tokens (mgmt and remote); in production the kubelet rotates a Pod's, and a platform admin
# re-runs admin-kubeconfig.sh for a remote's.
DEMO_TOKEN_SECONDS = 24 * 3600
#: deploy/base's optional parts the demo's settings use: `hal` over pods/exec, and the webhook without cert-manager.
MGMT_COMPONENTS = ("halyard-exec", "webhook-self-signed")
FIELD_MANAGER = "spinop-demo"


def say(message: str) -> None:
    print(f"[spinop demo] {message}", flush=True)


@dataclass
class Background:
    """A child process the demo owns (a stand-in or the operator)."""

    name: str
    proc: subprocess.Popen[str]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _start(
    name: str, args: list[str], log: Path, env: dict[str, str] | None = None, ready_line: bool = False
) -> tuple[Background, dict[str, Any]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    # Marks every process the demo starts, so a check (or a person) can find them all: `grep SPINOP_DEMO_ROOT`.
    env = {**(env or os.environ), "SPINOP_DEMO_ROOT": str(log.parent.parent)}
    out: IO[str] = log.open("a")
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE if ready_line else out,
        stderr=out,
        text=True,
        cwd=project_root(),
        env=env,
        start_new_session=True,
    )
    info: dict[str, Any] = {}
    if ready_line:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{name} did not start; see {log}")
        info = json.loads(line)
    return Background(name, proc, log), info


class Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.binaries = ensure_binaries()
        self.planes = ControlPlanes(root, self.binaries, die_with_parent=True)
        self.children: list[Background] = []
        self.stop_requested = False
        self.operator_kubeconfig = root / "operator.kubeconfig"  # a token of deploy/base's ServiceAccount
        self.webhook_port = 0
        self.webhook_configuration = ""

    # ------------------------------------------------------------------------------------------------ set-up

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        mgmt = self.planes.cluster("mgmt")
        result = subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={mgmt.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def install(self) -> None:
        mgmt = self.planes.cluster("mgmt")
        kubectl = self.binaries.kubectl
        # The webhook is this machine's operator process: the apiserver calls it by URL, not through a Service.
        self.webhook_port = free_port()
        objects = serve_webhooks_at(
            select(render(kubectl, components=MGMT_COMPONENTS), MGMT_INSTALL_KINDS),
            f"https://127.0.0.1:{self.webhook_port}",
        )
        apply_objects(kubectl, mgmt.kubeconfig, objects, field_manager=FIELD_MANAGER)
        self.webhook_configuration = next(
            o["metadata"]["name"] for o in objects if o["kind"] == "ValidatingWebhookConfiguration"
        )
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *[f"crd/{p}.{GROUP}" for p in ("spinnakerclusters", "spinnakeraccounts", "spinnakerpipelines")],
        )
        secrets = [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-admin-kubeconfig", "namespace": CREDENTIALS_NAMESPACE},
                "data": {"kubeconfig": base64.b64encode(self.remote_identity_kubeconfig(name)).decode()},
            }
            for name in REMOTES
        ]
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(secrets))
        token = self.issue_token(mgmt.kubeconfig, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)
        write_kubeconfig(
            token_kubeconfig("mgmt-spinop", mgmt.server, mgmt.ca_file.read_text(), token), self.operator_kubeconfig
        )
        say(
            f"installed deploy/base in mgmt as production does (+ {', '.join(MGMT_COMPONENTS)}): CRDs, RBAC "
            f"(ServiceAccount {OPERATOR_NAMESPACE}/{OPERATOR_SERVICE_ACCOUNT}, tenant ClusterRoles), admission policy "
            f"(finalizer guard), webhook (self-signed, {self.webhook_configuration} calling "
            f"https://127.0.0.1:{self.webhook_port}); no Deployment (no kubelet here): the operator runs locally "
            "under that ServiceAccount"
        )
        say(
            f"installed deploy/remote on {', '.join(REMOTES)}, and kubeconfigs for spinop's remote identity there in "
            f"namespace {CREDENTIALS_NAMESPACE}"
        )

    def issue_token(self, admin_kubeconfig: Path, namespace: str, service_account: str) -> str:
        api = new_client_from_config(config_file=str(admin_kubeconfig))
        try:
            return request_token(api, namespace, service_account, DEMO_TOKEN_SECONDS)
        finally:
            api.close()

    def remote_identity_kubeconfig(self, name: str) -> bytes:
        """What a platform admin does per remote cluster (docs/install.md): apply deploy/remote and give spinop a
        token of its ServiceAccount there, never the cluster-admin kubeconfig."""
        cluster = self.planes.cluster(name)
        kubectl = self.binaries.kubectl
        # deploy/remote as the samples' platform admin applies it: spinop may write the extra rules the sample
        # SpinnakerCluster allows its tenants (ServiceMonitors).
        objects = select(render(kubectl, remote_dir()), REMOTE_KINDS)
        allow_extra_rules(objects, sample_allowed_extra_rules(name))
        apply_objects(kubectl, cluster.kubeconfig, objects, field_manager=FIELD_MANAGER)
        token = self.issue_token(cluster.kubeconfig, REMOTE_NAMESPACE, REMOTE_SERVICE_ACCOUNT)
        return yaml.safe_dump(token_kubeconfig(name, cluster.server, cluster.ca_file.read_text(), token)).encode()

    def start_standins(self) -> tuple[dict[str, Any], dict[str, Any]]:
        logs = self.root / "logs"
        halyard, halyard_info = _start(
            "Halyard stand-in",
            [
                "-m",
                "tests.standins.halyard",
                "--port",
                "0",
                "--root",
                str(self.root / "halyard"),
                "--deploy-seconds",
                "2",
                # pods/exec is authorized as the real apiserver would: the operator's token and deploy/base's Role.
                "--kubeconfig",
                str(self.planes.cluster("mgmt").kubeconfig),
            ],
            logs / "halyard-standin.log",
            ready_line=True,
        )
        self.children.append(halyard)
        gate, gate_info = _start(
            "Gate stand-in", ["-m", "tests.standins.gate", "--port", "0"], logs / "gate-standin.log", ready_line=True
        )
        self.children.append(gate)
        say(f"Halyard stand-in (test double of the daemon's REST API) at {halyard_info['daemon_url']}")
        say(f"Gate stand-in (test double of Gate's pipeline API) at {gate_info['url']}")
        return halyard_info, gate_info

    def start_operator(self, halyard: dict[str, Any], gate: dict[str, Any]) -> Background:
        settings = {
            "operator_namespace": OPERATOR_NAMESPACE,
            "credentials_namespace": CREDENTIALS_NAMESPACE,
            "spinnaker_backend": "halyard",
            "halyard": {
                "url": halyard["daemon_url"],
                "transport": "rest",
                "kubeconfig_delivery": "exec",
                "exec_server": halyard["kube_url"],
                "pod_namespace": halyard["namespace"],
                "pod_name": halyard["pod"],
                "quiet_seconds": 3,
                "max_wait_seconds": 20,
            },
            "gate": {"url": gate["url"]},
            "pipelines": {
                "grants": {
                    "*": {
                        "registry_accounts": ["{namespace}-registry"],
                        "kayenta_accounts": ["{namespace}-prometheus", "{namespace}-canary-storage"],
                        "artifact_accounts": ["{namespace}-github"],
                    }
                }
            },
            # Self-signed mode: spinop keeps the installed configuration's caBundle pointed at the CA it generates.
            "admission": {
                "enabled": True,
                "ca_bundle_for": self.webhook_configuration,
                "host": "127.0.0.1",
                "listen_address": "127.0.0.1",
                "port": self.webhook_port,
            },
            "drift_interval_seconds": 60,
            # No fixed metrics port: another process on 8081 (or a second demo) must not stop this one.
            "metrics": {"port": 0},
        }
        config = self.root / "spinop-config.yaml"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        env = {**os.environ, "KUBECONFIG": str(self.operator_kubeconfig), "SPINOP_CONFIG": str(config)}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        operator, _ = _start(
            "operator",
            ["-m", "spinop.cli", "run", "--standalone", "--log-format", "full"],
            self.root / "logs" / "operator.log",
            env=env,
        )
        self.children.append(operator)
        deadline = time.monotonic() + 60
        while "spinop started" not in operator.log.read_text(errors="replace"):
            if operator.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the operator did not start; see {operator.log}")
            time.sleep(0.3)
        # Until spinop has published its CA, the apiserver cannot verify the webhook and (failurePolicy Ignore)
        # admits everything unreviewed.
        while not self.kubectl(
            "get",
            "validatingwebhookconfiguration",
            self.webhook_configuration,
            "-o",
            "jsonpath={.webhooks[0].clientConfig.caBundle}",
        ).strip():
            if operator.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the operator did not publish its webhook CA; see {operator.log}")
            time.sleep(0.3)
        say(
            f"the operator runs against mgmt as system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT} "
            f"(kubeconfig {self.operator_kubeconfig}); its log: {operator.log}"
        )
        return operator

    # -------------------------------------------------------------------------------------------- the table

    def watch(self, api: k8s.ApiClient, started: float, exit_when_ready: bool, halyard: dict[str, Any]) -> int:
        custom = k8s.CustomObjectsApi(api)
        last_table = ""
        explained: set[tuple[str, str]] = set()
        announced = False
        while not self.stop_requested:
            for child in self.children:
                if child.proc.poll() is not None:
                    say(f"the {child.name} exited (code {child.proc.returncode}); see {child.log}")
                    return 1
            try:
                accounts = custom.list_cluster_custom_object(GROUP, VERSION, "spinnakeraccounts")["items"]
                pipelines = custom.list_cluster_custom_object(GROUP, VERSION, "spinnakerpipelines")["items"]
            except ApiException as err:
                say(f"mgmt API error {err.status}; retrying")
                time.sleep(2)
                continue
            table = render_table(accounts, pipelines)
            if table != last_table:
                print(f"\n--- {time.monotonic() - started:5.1f}s ---\n{table}", flush=True)
                last_table = table
            for obj in [*accounts, *pipelines]:
                ready = _condition(obj, "Ready")
                if ready and ready.get("status") == "False" and ready.get("reason") in NEEDS_A_PERSON:
                    key = (_field(obj, "metadata", "uid"), str(ready.get("reason")))
                    if key not in explained:
                        explained.add(key)
                        say(
                            f"{_field(obj, 'kind')} {'/'.join(_name(obj))} is not Ready: "
                            f"{ready.get('reason')}: {ready.get('message')}"
                        )
            everything = [*accounts, *pipelines]
            all_ready = bool(everything) and all(
                (_condition(o, "Ready") or {}).get("status") == "True" for o in everything
            )
            if all_ready and not announced:
                announced = True
                deploys = _halyard_deploys(halyard)
                say(
                    f"all {len(accounts)} accounts on {len({_field(a, 'spec', 'cluster') for a in accounts})} clusters "
                    f"and "
                    f"{len(pipelines)} pipelines are Ready after {time.monotonic() - started:.0f}s "
                    f"({deploys} Halyard deploy(s) of clouddriver)"
                )
                for hint in hints(self.root):
                    say(f"try: {hint}")
                if exit_when_ready:
                    return 0
                say("press Ctrl-C to stop everything")
            time.sleep(1.5)
        return 0

    # ------------------------------------------------------------------------------------------------- run

    def run(self, exit_when_ready: bool) -> int:
        started = time.monotonic()
        self.planes.up(DEFAULT_CLUSTERS)
        self.install()
        halyard, gate = self.start_standins()
        self.start_operator(halyard, gate)
        self.kubectl("apply", "-k", str(project_root() / "deploy" / "samples"))
        say("applied deploy/samples: team-a's accounts on dev, staging and prod, and two pipelines")
        api = new_client_from_config(config_file=str(self.planes.cluster("mgmt").kubeconfig))
        return self.watch(api, started, exit_when_ready, halyard)

    def stop(self) -> None:
        say("stopping the operator, the stand-ins and the control planes")
        for child in reversed(self.children):
            child.stop()
        self.planes.down()
        say("stopped; no process left behind")


def render_table(accounts: list[dict[str, Any]], pipelines: list[dict[str, Any]]) -> str:
    """The live table; any stored shape renders (a field that is missing or odd shows as `-`), never an exception."""
    rows = [("ACCOUNT", "CLUSTER", "REMOTE NAMESPACE", "SPINNAKER ACCOUNT", "READY", "REASON")]
    for a in sorted(accounts, key=_name):
        ready = _condition(a, "Ready") or {}
        rows.append(
            (
                "/".join(_name(a)),
                _field(a, "spec", "cluster"),
                _field(a, "spec", "namespace"),
                _field(a, "status", "spinnakerAccountName"),
                _field(ready, "status"),
                _field(ready, "reason"),
            )
        )
    rows.append(("", "", "", "", "", ""))
    rows.append(("PIPELINE", "APPLICATION", "NAME", "PIPELINE ID", "READY", "REASON"))
    for p in sorted(pipelines, key=_name):
        ready = _condition(p, "Ready") or {}
        rows.append(
            (
                "/".join(_name(p)),
                _field(p, "spec", "application"),
                _field(p, "spec", "name"),
                _field(p, "status", "pipelineId")[:8],
                _field(ready, "status"),
                _field(ready, "reason"),
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(6)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


MAX_CELL = 80


def _field(obj: Any, *path: str) -> str:
    """A scalar at `path` as short text, `-` when it is missing or not a scalar."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    if obj is None or isinstance(obj, dict | list) or obj == "":
        return "-"
    return str(obj)[:MAX_CELL]


def _name(obj: Any) -> tuple[str, str]:
    return (_field(obj, "metadata", "namespace"), _field(obj, "metadata", "name"))


def _condition(obj: Any, type_: str) -> dict[str, Any] | None:
    return raw_condition(obj.get("status") if isinstance(obj, dict) else None, type_)


# ------------------------------------------------------------------------------------- hints and a clean start


def default_root() -> Path:
    return build_dir() / "clusters" / "demo"


def spinop_command() -> str:
    """How to run this spinop from a shell here: `spinop` when PATH finds this one, else its path."""
    ours = Path(sys.executable).parent / "spinop"
    on_path = shutil.which("spinop")
    if on_path and Path(on_path).resolve() == ours.resolve():
        return "spinop"
    try:
        return str(ours.relative_to(Path.cwd()))
    except ValueError:
        return str(ours)


def hints(root: Path) -> list[str]:
    """Commands the demo suggests; each runs as printed on a fresh machine (no kubectl on PATH needed)."""
    spinop = spinop_command()
    where = "" if root.resolve() == default_root().resolve() else f" --dir {shlex.quote(str(root))}"
    return [
        f"{spinop} dev kubectl{where} get spinnaker -A",
        f"{spinop} dev kubectl{where} describe spinnakeraccounts -n team-a",
    ]


def prepare_root(root: Path, *, resume: bool) -> None:
    """Start clean unless `resume`: stop whatever a previous demo in `root` left running and remove its state.

    Only a directory that holds a demo (its state.json) is removed; anything else there is refused.
    """
    if resume or not root.exists() or not any(root.iterdir()):
        return
    if not (root / "state.json").is_file():
        raise RuntimeError(f"{root} is not empty and holds no demo; choose another --dir")
    say(f"starting clean: removing the previous demo's clusters in {root} (--resume keeps them)")
    ControlPlanes(root).down()
    shutil.rmtree(root)


def run_kubectl(root: Path, args: list[str]) -> int:
    """`spinop dev kubectl`: the built kubectl with the demo's (or a dev cluster set's) kubeconfig."""
    kubeconfig = root / "kubeconfig"
    if not kubeconfig.is_file():
        print(f"no clusters in {root}: start them with `{spinop_command()} demo`", file=sys.stderr)
        return 1
    binaries = ensure_binaries()
    return subprocess.run([str(binaries.kubectl), f"--kubeconfig={kubeconfig}", *args], check=False).returncode


def _halyard_deploys(halyard: dict[str, Any]) -> int | str:
    import urllib.request

    try:
        with urllib.request.urlopen(halyard["control_url"] + "/_standin/deploys", timeout=5) as resp:  # noqa: S310
            return len(json.loads(resp.read())["deploys"])
    except OSError:
        return "?"


def run_demo(root: Path | None = None, *, exit_when_ready: bool = False, resume: bool = False) -> int:
    """Run until Ctrl-C/SIGTERM (or until everything is Ready with `exit_when_ready`); returns the exit code.

    Starts clean unless `resume` (a previous demo's clusters, and whatever broke them, are removed first).
    """
    root = root or default_root()
    try:
        prepare_root(root, resume=resume)
    except RuntimeError as err:
        say(f"failed: {err}")
        return 1
    demo = Demo(root)

    def request_stop(signum: int, frame: object) -> None:
        demo.stop_requested = True

    previous: dict[signal.Signals, Callable[..., Any] | int | None] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, request_stop)
    try:
        return demo.run(exit_when_ready)
    except RuntimeError as err:
        say(f"failed: {err}")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        demo.stop()
