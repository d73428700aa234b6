"""Pure parts of the local control-plane tooling: version pinning, certificates, process checks."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from spinop.devcluster import build, pki
from spinop.devcluster.build import BuildError, pinned_version
from spinop.devcluster.controlplane import free_port, kubeconfig_dict, process_alive
from spinop.devcluster.manifests import serve_webhooks_at
from spinop.devcluster.paths import project_root


def test_pinned_versions_come_from_the_committed_go_modules() -> None:
    root = project_root() / "tools" / "controlplane"
    k8s = pinned_version(root / "kubernetes", "k8s.io/kubernetes")
    assert k8s.startswith("v1.")
    # Every staging module must be replaced with the same published minor, or the build mixes versions.
    minor = k8s.split(".")[1]
    replaces = [line for line in (root / "kubernetes" / "go.mod").read_text().splitlines() if "=> k8s.io/" in line]
    assert len(replaces) >= 31
    assert all(line.strip().endswith(f"v0.{minor}.{k8s.split('.')[2]}") for line in replaces), replaces
    assert pinned_version(root / "etcd", "go.etcd.io/etcd/server/v3").startswith("v3.6.")


def test_pinned_version_reports_a_missing_requirement(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.26\n")
    with pytest.raises(BuildError, match="does not require"):
        pinned_version(tmp_path, "k8s.io/kubernetes")


def test_certificates_chain_to_their_ca_and_carry_the_admin_group(tmp_path: Path) -> None:
    ca = pki.ensure_ca(tmp_path, "test-ca")
    serving = pki.issue_cert(ca, tmp_path, "srv", common_name="kube-apiserver", server_hosts=["127.0.0.1", "localhost"])
    admin = pki.issue_cert(ca, tmp_path, "adm", common_name="admin", organization="system:masters", client=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    srv_cert = x509.load_pem_x509_certificate(serving.cert.read_bytes())
    adm_cert = x509.load_pem_x509_certificate(admin.cert.read_bytes())
    srv_cert.verify_directly_issued_by(ca_cert)
    adm_cert.verify_directly_issued_by(ca_cert)
    sans = srv_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert adm_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert oct(admin.key.stat().st_mode & 0o777) == "0o600"
    # Idempotent: a second call keeps the same CA (tokens and certs issued earlier stay valid).
    assert pki.ensure_ca(tmp_path, "test-ca").cert.read_bytes() == ca.cert.read_bytes()


def test_process_alive_and_free_port() -> None:
    assert process_alive(os.getpid())
    assert not process_alive(0)
    assert not process_alive(2**22 + 12345)
    assert 1024 < free_port() < 65536


def test_kubeconfig_has_one_self_consistent_context() -> None:
    config = kubeconfig_dict("dev", "https://127.0.0.1:1", ca_pem="PEM", user={"token": "t"})
    assert config["current-context"] == "dev"
    context = config["contexts"][0]["context"]
    assert context == {"cluster": "dev", "user": "dev"}


def test_installed_webhooks_call_the_local_operator_by_url_and_nothing_else_changes() -> None:
    configuration: dict[str, Any] = {
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "spinop.io"},
        "webhooks": [
            {
                "name": "validate-spinnakeraccount.spinop.io",
                "failurePolicy": "Ignore",
                "clientConfig": {
                    "service": {"name": "spinop-webhook", "namespace": "spinop-system", "port": 443, "path": "/v-a"},
                    "caBundle": "Q0E=",
                },
            }
        ],
    }
    role = {"kind": "ClusterRole", "metadata": {"name": "spinop"}}
    pointed = serve_webhooks_at([configuration, role], "https://127.0.0.1:9443/")
    (webhook,) = pointed[0]["webhooks"]
    assert webhook["clientConfig"] == {"url": "https://127.0.0.1:9443/v-a", "caBundle": "Q0E="}
    assert webhook["failurePolicy"] == "Ignore"
    assert pointed[1] is role
    assert "service" in configuration["webhooks"][0]["clientConfig"]  # the input is kept


def test_parallel_test_workers_build_a_missing_binary_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-xdist workers all call ensure_*() at start: one builds, the others wait for it and find it built."""
    module_dir = tmp_path / "module"
    module_dir.mkdir()
    (module_dir / "go.mod").write_text("module example.com/x\n")
    (module_dir / "go.sum").write_text("")
    out_dir = tmp_path / "bin" / "tool-v1"
    builds: list[str] = []

    def slow_build(name: str, packages: dict[str, str], *_: Any) -> None:
        builds.append(name)
        time.sleep(0.3)
        for binary in packages:
            (out_dir / binary).write_text("built")

    monkeypatch.setattr(build, "_go_build", slow_build)
    workers = [
        threading.Thread(
            target=build._build_module,
            args=("tool", {"tool": "example.com/x"}, "v1", "", out_dir, lambda _m: None, module_dir),
        )
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert builds == ["tool"]
    assert (out_dir / "tool").read_text() == "built"
