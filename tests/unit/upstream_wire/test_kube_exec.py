"""Wire facts of the Kubernetes pods/exec WebSocket that the Halyard exec transport and its RBAC rely on.

Read in github:kubernetes/kubernetes (via the code index; the pinned control planes are v1.36.3,
tools/controlplane/kubernetes/go.mod):
- staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go: the request verb comes from the HTTP method,
  and a WebSocket upgrade is a GET, so the authorization filter checks `get pods/exec` (SPDY's POST is `create`).
- staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go (forbiddenMessage): that refusal
  reads `pods "<pod>" is forbidden: User "<u>" cannot get resource "pods/exec" in API group "" in the namespace
  "<ns>"`.
- pkg/features/kube_features.go: `AuthorizePodWebsocketUpgradeCreatePermission`, {Version 1.35, Default true,
  Beta} ("Forces authorization of the "create" verb for pod subresources like exec, attach, and portforward",
  kubernetes/kubernetes#133515).
- pkg/registry/core/pod/rest/subresources.go (ExecREST.Connect, AttachREST, PortForwardREST) and
  pkg/registry/core/pod/rest/authorize.go (ensureAuthorizedForVerb): with the gate on, Connect re-authorizes the
  same attributes with verb `create` and refuses with NewForbidden(pods, name, reason): `pods "<pod>" is
  forbidden: <reason>`.
So since 1.35 a WebSocket exec needs both `get` and `create` on pods/exec; before, `get` alone was enough, which is
why a Role that grants `get` on pods/exec is an exec grant on every cluster. tests/integration/test_pods_exec_verbs.py
shows all of it on the real apiserver.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.standins.halyard.kube_exec import EXEC_VERBS, PodExec

ROOT = Path(__file__).resolve().parents[3]


def test_the_standin_authorizes_get_then_create_like_the_apiserver() -> None:
    # requestinfo.go (GET -> get) first, then subresources.go ExecREST.Connect (create).
    assert EXEC_VERBS == ("get", "create")


def test_the_exec_endpoint_is_a_websocket_get() -> None:
    # The upgrade request is a GET; that is why the authorization filter sees `get`.
    methods = {route.method for route in PodExec.routes(PodExec.__new__(PodExec))}
    assert methods == {"GET"}


def test_the_halyard_exec_role_grants_get_and_create_on_the_halyard_pod_only() -> None:
    documents = yaml.safe_load_all((ROOT / "deploy/base/components/halyard-exec/role.yaml").read_text())
    rules = [r for d in documents if d and d["kind"] == "Role" for r in d["rules"] if "pods/exec" in r["resources"]]
    assert len(rules) == 1 and set(rules[0]["verbs"]) == {"get", "create"}
    assert rules[0]["resourceNames"] == ["spin-halyard-0"]


def test_the_docs_ask_for_get_and_create_on_pods_exec() -> None:
    # docs/halyard.md, docs/install.md, docs/spinnaker-backends.md: never `create pods/exec` alone.
    for doc in ("halyard.md", "install.md", "spinnaker-backends.md"):
        text = (ROOT / "docs" / doc).read_text()
        assert re.search(r"`create pods/exec`|(?<!and )(?<!\+)`create` on `pods/exec`", text) is None, doc
        assert "`get`+`create` on `pods/exec`" in text or "`get` and `create` on `pods/exec`" in text, doc
