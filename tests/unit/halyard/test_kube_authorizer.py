"""`KubeAuthorizer` against a minimal fake API server (TokenReview and SubjectAccessReview over real HTTP).

The real API server integration is covered by the integration suite; this checks the wiring and the mapping
to 401/403 with the sync kubernetes client running in a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from spinop.halyard import KubeExecClient, KubeExecError
from tests.standins.halyard import KubeAuthorizer

from .conftest import CONTAINER, NAMESPACE, POD, make_standin

USERS = {
    "alice-token": ("alice", ["ops"]),
    "bob-token": ("bob", []),
    "carol-token": ("carol", []),
    "dave-token": ("dave", []),
}
# The verbs each user holds on pods/exec of POD: the apiserver needs `get` (the WebSocket's GET) and `create`.
GRANTS = {"alice": {"get", "create"}, "carol": {"get"}, "dave": {"create"}}


@pytest.fixture
async def apiserver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    reviews: list[dict[str, Any]] = []

    async def token_review(request: web.Request) -> web.Response:
        body = await request.json()
        user = USERS.get(body["spec"]["token"])
        status: dict[str, Any] = {"authenticated": user is not None}
        if user:
            status["user"] = {"username": user[0], "groups": user[1], "uid": f"uid-{user[0]}"}
        return web.json_response({**body, "status": status}, status=201)

    async def access_review(request: web.Request) -> web.Response:
        body = await request.json()
        reviews.append(body["spec"])
        attrs = dict(body["spec"]["resourceAttributes"])
        verb = attrs.pop("verb")
        allowed = verb in GRANTS.get(body["spec"]["user"], set()) and attrs == {
            "namespace": NAMESPACE,
            "resource": "pods",
            "subresource": "exec",
            "name": POD,
        }
        return web.json_response({**body, "status": {"allowed": allowed}}, status=201)

    app = web.Application()
    app.add_routes(
        [
            web.post("/apis/authentication.k8s.io/v1/tokenreviews", token_review),
            web.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", access_review),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", reviews
    finally:
        await runner.cleanup()


async def test_token_review_and_subject_access_review(
    tmp_path: Path, apiserver: tuple[str, list[dict[str, Any]]]
) -> None:
    server, reviews = apiserver
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "reviewer-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    async with make_standin(tmp_path / "standin", authorizer=KubeAuthorizer(str(kubeconfig))) as standin:

        def client(token: str) -> KubeExecClient:
            return KubeExecClient(standin.kube_url, NAMESPACE, POD, CONTAINER, token=token)

        assert (await client("alice-token").run(["hal", "--ready"])).exit_code == 0
        assert standin.exec.log[-1].user == "alice"
        assert reviews[-1]["groups"] == ["ops"] and reviews[-1]["uid"] == "uid-alice"
        # As the apiserver: `get` first (the authorization filter), then `create` (ExecREST.Connect).
        assert [r["resourceAttributes"]["verb"] for r in reviews] == ["get", "create"]
        execs = len(standin.exec.log)
        for token, user in (("bob-token", "bob"), ("dave-token", "dave")):
            with pytest.raises(KubeExecError) as forbidden:
                await client(token).run(["hal", "--ready"])
            assert forbidden.value.status == 403
            assert f'User "{user}" cannot get resource "pods/exec"' in str(forbidden.value)
        # `get` alone was enough before Kubernetes 1.35; the stand-in, like the apiserver since, refuses it.
        with pytest.raises(KubeExecError) as forbidden:
            await client("carol-token").run(["hal", "--ready"])
        assert forbidden.value.status == 403 and f'pods "{POD}" is forbidden' in str(forbidden.value)
        assert "cannot get" not in str(forbidden.value)
        assert len(standin.exec.log) == execs
        with pytest.raises(KubeExecError) as unauthorized:
            await client("nobody").run(["hal", "--ready"])
        assert unauthorized.value.status == 401
