"""`HalyardStandin`: the test double of the Halyard daemon, wired together and served on 127.0.0.1.

Three listeners:
- the daemon's REST API (what `hal` and spinop's REST transport call; the one that goes "down"),
- a Kubernetes API stand-in serving `pods/exec` for the Halyard pod (optionally TLS),
- a control API under `/_standin/…` so tests in another process can read deploy records, set faults, reset
  state, read the concurrency report and the config-write count, and read/replace the halconfig.
In-process tests use the Python methods of the same names instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .daemon import DaemonSettings, Faults, HalyardDaemon
from .halconfig import load_yaml
from .kube_exec import AllowAllAuthorizer, ExecAuthorizer, PodExec, StaticTokenAuthorizer
from .podfs import PodFilesystem, PodPathError
from .problems import Severity
from .tls import TlsFiles, make_tls

log = logging.getLogger(__name__)


@dataclass
class StandinUrls:
    daemon: str
    kube: str
    control: str
    ca_file: str | None
    namespace: str
    pod: str
    container: str

    def to_json(self) -> dict[str, Any]:
        return {
            "daemon_url": self.daemon,
            "kube_url": self.kube,
            "control_url": self.control,
            "ca_file": self.ca_file,
            "namespace": self.namespace,
            "pod": self.pod,
            "container": self.container,
        }


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class HalyardStandin:
    """Start with `await standin.start()` (or `async with`); stop with `await standin.stop()`."""

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        daemon_port: int = 0,
        kube_port: int = 0,
        control_port: int = 0,
        settings: DaemonSettings | None = None,
        exec_token: str | None = None,
        authorizer: ExecAuthorizer | None = None,
        tls: bool = False,
        client_cert_cns: tuple[str, ...] = (),
        namespace: str = "spinnaker",
        pod: str = "spin-halyard-0",
        container: str = "halyard",
        cli_poll_interval: float = 0.4,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self.podfs = PodFilesystem(self.root / "pod", (settings or DaemonSettings()).home)
        self.daemon = HalyardDaemon(self.podfs, settings)
        self.tls: TlsFiles | None = make_tls(self.root / "tls") if tls else None
        if authorizer is None:
            if exec_token is not None or client_cert_cns:
                cns = client_cert_cns or ((self.tls.client_cn,) if self.tls else ())
                authorizer = StaticTokenAuthorizer(exec_token, cns)
            else:
                authorizer = AllowAllAuthorizer()
        self.exec = PodExec(
            self.podfs,
            namespace=namespace,
            pod=pod,
            container=container,
            authorizer=authorizer,
            daemon_url=lambda: self.daemon_url,
            cli_poll_interval=cli_poll_interval,
        )
        self._ports = {"daemon": daemon_port, "kube": kube_port, "control": control_port}
        self._runners: dict[str, web.AppRunner] = {}
        self._daemon_site: web.TCPSite | None = None
        self._lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> HalyardStandin:
        daemon_app = self.daemon.app()
        kube_app = web.Application()
        kube_app.add_routes(self.exec.routes())
        control_app = web.Application()
        control_app.add_routes(self.control_routes())
        for name, app in (("daemon", daemon_app), ("kube", kube_app), ("control", control_app)):
            runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            self._runners[name] = runner
        if not self._ports["daemon"]:
            self._ports["daemon"] = _free_port(self.host)
        await self._listen_daemon()
        for name in ("kube", "control"):
            ssl_context = self.tls.server_context() if (name == "kube" and self.tls) else None
            site = web.TCPSite(self._runners[name], self.host, self._ports[name], ssl_context=ssl_context)
            await site.start()
            self._ports[name] = self._bound_port(site)
        return self

    @staticmethod
    def _bound_port(site: web.TCPSite) -> int:
        sockets = getattr(site._server, "sockets", None)
        assert sockets, "site is not listening"
        return int(sockets[0].getsockname()[1])

    async def _listen_daemon(self) -> None:
        site = web.TCPSite(self._runners["daemon"], self.host, self._ports["daemon"], reuse_address=True)
        await site.start()
        self._daemon_site = site

    async def stop(self) -> None:
        await self.daemon.close()
        for runner in self._runners.values():
            with contextlib.suppress(Exception):
                await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> HalyardStandin:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- addresses ------------------------------------------------------------------------------------------

    @property
    def daemon_url(self) -> str:
        return f"http://{self.host}:{self._ports['daemon']}"

    @property
    def kube_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self._ports['kube']}"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self._ports['control']}"

    def urls(self) -> StandinUrls:
        return StandinUrls(
            self.daemon_url,
            self.kube_url,
            self.control_url,
            str(self.tls.ca_file) if self.tls else None,
            self.exec.namespace,
            self.exec.pod,
            self.exec.container,
        )

    # -- the Python control API -----------------------------------------------------------------------------

    @property
    def deploys(self) -> list[dict[str, Any]]:
        return [d.to_json() for d in self.daemon.deploys]

    def concurrency_report(self) -> dict[str, Any]:
        return self.daemon.registry.concurrency.report()

    @property
    def faults(self) -> Faults:
        return self.daemon.faults

    def halconfig_text(self) -> str:
        return self.daemon.store.read_text()

    def write_halconfig_text(self, text: str) -> None:
        self.daemon.store.write_text(text)

    def kubernetes_accounts(self, deployment: str = "default") -> list[dict[str, Any]]:
        """The kubernetes accounts as stored in the halconfig file (raises if the file does not parse)."""
        hc = load_yaml(self.halconfig_text())
        for dep in hc["deploymentConfigurations"]:
            if dep["name"] == deployment:
                return list(dep["providers"]["kubernetes"].get("accounts") or [])
        raise KeyError(deployment)

    def pod_file(self, path: str) -> bytes | None:
        host = self.podfs.host_path(path)
        return host.read_bytes() if host.exists() else None

    def write_pod_file(self, path: str, content: bytes, mode: int = 0o600) -> None:
        host = self.podfs.host_path(path)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(content)
        host.chmod(mode)

    async def go_down(self, mode: str = "refuse") -> None:
        """ "refuse": stop listening (connection refused); "drop": accept and close without answering."""
        async with self._lock:
            self.daemon.faults.down = mode
            if mode == "refuse" and self._daemon_site is not None:
                await self._daemon_site.stop()
                self._daemon_site = None

    async def come_up(self) -> None:
        async with self._lock:
            self.daemon.faults.down = None
            if self._daemon_site is None and "daemon" in self._runners:
                await self._listen_daemon()

    def fail_next_task(self, message: str = "Injected failure from the Halyard stand-in", **kw: Any) -> None:
        """The next mutating task fails with this problem (kw: severity, location, remediation, match, reads)."""
        self.daemon.fail_next_task(message, **kw)

    def time_out_next_task(self, match: str | None = None, *, reads: bool = False) -> None:
        """The next mutating task (any task with `reads=True`) whose name contains `match` times out."""
        self.daemon.time_out_next_task(match, reads=reads)

    def fail_next_deploy(self, service: str | None = None) -> None:
        self.daemon.faults.deploy_fail_armed = True
        self.daemon.faults.deploy_fail_service = service

    def go_airgapped(self, network_timeout_s: float = 240.0, config_task_timeout_s: float | None = None) -> None:
        """Validation's version/BOM lookups hang like an offline daemon's (see `Faults.airgapped`)."""
        self.daemon.faults.airgapped = True
        self.daemon.faults.network_timeout_s = network_timeout_s
        self.daemon.faults.config_task_timeout_s = config_task_timeout_s

    def lack_account_fields(self, *fields: str) -> None:
        """Behave like an older Halyard whose KubernetesAccount lacks `fields` (dropped from request bodies)."""
        self.daemon.faults.absent_account_fields = list(fields)

    def http500(self, count: int, path: str | None = None) -> None:
        self.daemon.faults.http500_remaining = count
        self.daemon.faults.http500_path = path

    def set_latency(self, seconds: float) -> None:
        self.daemon.faults.latency_s = seconds

    async def clear_faults(self) -> None:
        await self.come_up()
        self.daemon.faults = Faults()
        self.daemon.registry.pending_faults.clear()

    async def reset(self) -> None:
        await self.clear_faults()
        self.daemon.reset()
        self.exec.log.clear()

    # -- the HTTP control API -------------------------------------------------------------------------------

    def control_routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_standin/deploys", self._c_deploys),
            web.delete("/_standin/deploys", self._c_clear_deploys),
            web.get("/_standin/faults", self._c_faults),
            web.put("/_standin/faults", self._c_set_faults),
            web.delete("/_standin/faults", self._c_clear_faults),
            web.post("/_standin/reset", self._c_reset),
            web.get("/_standin/concurrency", self._c_concurrency),
            web.get("/_standin/config-writes", self._c_config_writes),
            web.get("/_standin/halconfig", self._c_halconfig),
            web.put("/_standin/halconfig", self._c_put_halconfig),
            web.get("/_standin/exec-log", self._c_exec_log),
            web.get("/_standin/requests", self._c_requests),
            web.get("/_standin/pod-file", self._c_pod_file),
            web.put("/_standin/pod-file", self._c_put_pod_file),
            web.get("/_standin/urls", self._c_urls),
        ]

    async def _c_urls(self, request: web.Request) -> web.Response:
        return web.json_response(self.urls().to_json())

    async def _c_deploys(self, request: web.Request) -> web.Response:
        return web.json_response({"deploys": self.deploys})

    async def _c_clear_deploys(self, request: web.Request) -> web.Response:
        self.daemon.deploys.clear()
        return web.json_response({"deploys": []})

    def _faults_json(self) -> dict[str, Any]:
        return {
            **self.daemon.faults.to_json(),
            "pending": [
                {
                    "kind": f.kind,
                    "match": f.match,
                    "reads": f.reads,
                    "problem": f.problem.to_json() if f.problem else None,
                }
                for f in self.daemon.registry.pending_faults
            ],
        }

    async def _c_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._faults_json())

    async def _c_set_faults(self, request: web.Request) -> web.Response:
        """Body keys (all optional): down ("refuse"|"drop"|null), http500 {count, path}, latency_s,
        fail_next {message, severity, location, remediation, match, reads}, timeout_next {match, reads},
        deploy_fail {service}, airgapped {network_timeout_s, config_task_timeout_s},
        absent_account_fields [names], refused_accounts [account names validation refuses]."""
        body = await request.json()
        if "down" in body:
            if body["down"]:
                await self.go_down(str(body["down"]))
            else:
                await self.come_up()
        if "http500" in body:
            spec = body["http500"] or {}
            self.http500(int(spec.get("count", 1)), spec.get("path"))
        if "latency_s" in body:
            self.set_latency(float(body["latency_s"] or 0))
        if "fail_next" in body:
            spec = body["fail_next"] or {}
            self.fail_next_task(
                spec.get("message", "Injected failure from the Halyard stand-in"),
                severity=Severity.parse(spec.get("severity", "ERROR")),
                location=spec.get("location"),
                remediation=spec.get("remediation"),
                match=spec.get("match"),
                reads=bool(spec.get("reads", False)),
            )
        if "timeout_next" in body:
            spec = body["timeout_next"] or {}
            self.time_out_next_task(spec.get("match"), reads=bool(spec.get("reads", False)))
        if body.get("airgapped") is not None:
            spec = body["airgapped"]
            timeout = spec.get("config_task_timeout_s")
            self.go_airgapped(
                float(spec.get("network_timeout_s", 240.0)), float(timeout) if timeout is not None else None
            )
        if "absent_account_fields" in body:
            self.lack_account_fields(*(body["absent_account_fields"] or []))
        if "refused_accounts" in body:
            self.daemon.faults.refused_accounts = [str(n) for n in body["refused_accounts"] or []]
        if "deploy_fail" in body:
            self.fail_next_deploy((body["deploy_fail"] or {}).get("service"))
        return web.json_response(self._faults_json())

    async def _c_clear_faults(self, request: web.Request) -> web.Response:
        await self.clear_faults()
        return web.json_response(self._faults_json())

    async def _c_reset(self, request: web.Request) -> web.Response:
        await self.reset()
        return web.json_response({"reset": True})

    async def _c_config_writes(self, request: web.Request) -> web.Response:
        """How many times config tasks saved the halconfig since the last reset (refused writes save nothing)."""
        return web.json_response({"configWrites": self.daemon.config_writes})

    async def _c_concurrency(self, request: web.Request) -> web.Response:
        return web.json_response(self.concurrency_report())

    async def _c_halconfig(self, request: web.Request) -> web.Response:
        return web.Response(text=self.halconfig_text(), content_type="application/yaml")

    async def _c_put_halconfig(self, request: web.Request) -> web.Response:
        self.write_halconfig_text(await request.text())
        return web.Response(status=204)

    async def _c_exec_log(self, request: web.Request) -> web.Response:
        return web.json_response({"execs": [r.to_json() for r in self.exec.log]})

    async def _c_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.daemon.requests})

    async def _c_pod_file(self, request: web.Request) -> web.Response:
        try:
            host = self.podfs.host_path(request.query.get("path", ""))
        except PodPathError as e:
            return web.json_response({"error": str(e)}, status=400)
        if not host.exists():
            return web.json_response({"path": request.query.get("path"), "exists": False}, status=404)
        return web.json_response(
            {
                "path": request.query["path"],
                "exists": True,
                "mode": f"{host.stat().st_mode & 0o777:04o}",
                "content_b64": base64.b64encode(host.read_bytes()).decode(),
            }
        )

    async def _c_put_pod_file(self, request: web.Request) -> web.Response:
        try:
            path = request.query.get("path", "")
            self.write_pod_file(path, await request.read(), int(request.query.get("mode", "600"), 8))
        except (PodPathError, ValueError) as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.Response(status=204)
