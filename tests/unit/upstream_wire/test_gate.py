"""Wire facts of Gate's URL handling and pipeline update that spinop's pipeline names and Gate client rely on.

Read upstream (bare clones via the fetch tool):
- github:spinnaker/gate gate-core/src/main/java/com/netflix/spinnaker/gate/config/AuthConfig.java and every
  `@EnableWebSecurity` config (gate-basic, gate-iap, gate-ldap, gate-oauth2, gate-saml, gate-x509, anonymous):
  none sets an HttpFirewall, so Spring Security's default StrictHttpFirewall guards every request.
- github:spinnaker/kork spinnaker-dependencies/spinnaker-dependencies.gradle: Spring Boot 2.7.18 (Spring Security
  5.7/5.8, embedded Tomcat 9.0.x); kork-web .../config/ErrorConfiguration.groovy and
  .../kork/web/controllers/GenericErrorController.java: errors forwarded to /error answer Spring Boot's error
  attributes (timestamp, status, error, exception, message) without `path`.
- github:spring-projects/spring-security (tags 5.7.11, 5.8.16)
  web/src/main/java/org/springframework/security/web/firewall/StrictHttpFirewall.java: the encoded (raw URI) and
  decoded (servlet path) blocklists, isNormalized, the printable-ASCII rule and the RequestRejectedException
  messages; web/.../FilterChainProxy.java + firewall/DefaultRequestRejectedHandler.java: the exception is
  rethrown, so the container answers 500.
- github:apache/tomcat (tag 9.0.83) java/org/apache/catalina/connector/CoyoteAdapter.java (postParseRequest,
  normalize) and java/org/apache/tomcat/util/buf/UDecoder.java: %2F (encodedSolidusHandling "reject"), a
  backslash (ALLOW_BACKSLASH false) and NUL make the URI invalid, 400 before any filter.
- github:spinnaker/gate gate-web/src/main/groovy/com/netflix/spinnaker/gate/controllers/PipelineController.groovy:
  `DELETE /pipelines/{application}/{pipelineName:.+}` takes the name from the path; `POST /pipelines` takes it from
  the JSON body; `PUT /pipelines/{id}` runs an Orca `updatePipeline` task with the body and never compares the path
  id with the body's, then answers the config whose id is the path id.
- github:spinnaker/orca orca-front50/src/main/java/com/netflix/spinnaker/orca/front50/pipeline/UpdatePipelineStage.java:
  the `updatePipeline` task is SavePipelineTask (orca-front50 .../tasks/SavePipelineTask.java), a Front50 save of
  the body: its own id, or a new pipeline when it has none.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import TypeAdapter, ValidationError
from pydantic import constr as _constr
from yarl import URL

from spinop.api.v1alpha1.pipeline import PIPELINE_NAME_PATTERN
from spinop.gate import GateClient, GateRejected
from spinop.gate.paths import segment, unroutable_reason
from tests.standins.gate import GateStandin
from tests.standins.gate.firewall import REJECTED_EXCEPTION, refusal

from ..gate.conftest import fast_settings


@pytest.fixture
async def gate() -> AsyncIterator[GateStandin]:
    async with GateStandin(auth="none") as standin:
        yield standin


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _call(http: aiohttp.ClientSession, gate: GateStandin, method: str, raw_path: str, **kw: Any) -> tuple:
    async with http.request(method, URL(gate.url + raw_path, encoded=True), **kw) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def _pipeline(name: str, pid: str = "p-1") -> dict[str, Any]:
    return {"id": pid, "application": "shop", "name": name, "stages": []}


# StrictHttpFirewall (spring-security 5.8.16 web/.../firewall/StrictHttpFirewall.java, rejectedBlocklistedUrls and
# isNormalized) answers through kork's GenericErrorController: 500 with the RequestRejectedException's message.
FIREWALL_CASES = [
    ("a%3Bb", 'String "%3B"'),  # FORBIDDEN_SEMICOLON, encoded form
    ("a;b", 'String ";"'),  # FORBIDDEN_SEMICOLON, raw (Tomcat strips it as a path parameter; the raw URI keeps it)
    ("100%25", 'String "%25"'),  # ENCODED_PERCENT
    ("a%2Eb", 'String "%2E"'),  # FORBIDDEN_ENCODED_PERIOD
    ("a%0Ab", 'String "%0A"'),  # FORBIDDEN_LF
    ("a%0Db", 'String "%0D"'),  # FORBIDDEN_CR
    ("a%E2%80%A8b", 'String "\u2028"'),  # FORBIDDEN_LINE_SEPARATOR, decoded path only
    (".", "URL was not normalized"),  # isNormalized: a "." segment
    ("..", "URL was not normalized"),  # isNormalized: a ".." segment (Tomcat resolved it, the raw URI still has it)
]
# Tomcat 9.0.83 CoyoteAdapter.postParseRequest: 400 with its HTML error page before Spring Security runs.
TOMCAT_CASES = ["a%2Fb", "a%2fb", "a%5Cb", "a%00b"]


@pytest.mark.parametrize(("raw_name", "named"), FIREWALL_CASES)
async def test_strict_http_firewall_refuses_the_delete_path_with_500(
    gate: GateStandin, http: aiohttp.ClientSession, raw_name: str, named: str
) -> None:
    status, content_type, text = await _call(http, gate, "DELETE", f"/pipelines/shop/{raw_name}")
    assert status == 500 and content_type.startswith("application/json"), (status, text)
    body = json.loads(text)
    assert body["exception"] == REJECTED_EXCEPTION and body["error"] == "Internal Server Error", body
    assert named in body["message"] and "path" not in body  # kork's ErrorConfiguration removes `path`


@pytest.mark.parametrize("raw_name", TOMCAT_CASES)
async def test_tomcat_refuses_encoded_slash_backslash_and_nul_with_400(
    gate: GateStandin, http: aiohttp.ClientSession, raw_name: str
) -> None:
    status, content_type, text = await _call(http, gate, "DELETE", f"/pipelines/shop/{raw_name}")
    assert (status, content_type.split(";")[0]) == (400, "text/html") and "HTTP Status 400" in text


async def test_a_name_saved_in_the_body_cannot_be_deleted_by_name(
    gate: GateStandin, http: aiohttp.ClientSession
) -> None:
    # POST /pipelines carries the name in JSON: Front50 stores it. DELETE carries it in the path: refused, kept.
    status, _, _ = await _call(http, gate, "POST", "/pipelines", json=_pipeline("deploy;v=1"))
    assert status == 200 and gate.state.pipelines["p-1"]["name"] == "deploy;v=1"
    status, _, _ = await _call(http, gate, "DELETE", "/pipelines/shop/" + segment("deploy;v=1"))
    assert status == 500 and "p-1" in gate.state.pipelines
    # A routable name with spaces and brackets is deleted.
    await _call(http, gate, "POST", "/pipelines", json=_pipeline("[stag] Deploy (eu)", "p-2"))
    status, _, _ = await _call(http, gate, "DELETE", "/pipelines/shop/" + segment("[stag] Deploy (eu)"))
    assert status == 200 and "p-2" not in gate.state.pipelines


async def test_the_firewall_runs_before_authentication() -> None:
    # FilterChainProxy applies the firewall before any filter of the chain, authentication included.
    async with GateStandin(auth="basic", users={"u": "p"}) as standin, aiohttp.ClientSession() as http:
        status, _, _ = await _call(http, standin, "GET", "/applications/shop/pipelineConfigs/a%25b")
        assert status == 500
        status, _, _ = await _call(http, standin, "GET", "/applications/shop/pipelineConfigs/ab")
        assert status == 401


_NAME = TypeAdapter(_constr(pattern=PIPELINE_NAME_PATTERN))


def _name_allowed(name: str) -> bool:
    try:
        _NAME.validate_python(name)
    except ValidationError:
        return False
    return name not in (".", "..")


def test_every_pipeline_name_the_crd_accepts_passes_gates_firewall() -> None:
    # Every code point of the Basic Multilingual Plane, alone and between letters: what the schema admits, Gate
    # routes; what Gate refuses, the schema refuses.
    checked = 0
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        for name in (chr(code), f"a{chr(code)}b"):
            if not _name_allowed(name):
                continue
            checked += 1
            assert refusal("DELETE", "/pipelines/shop/" + segment(name)) is None, repr(name)
            assert unroutable_reason(name) is None, repr(name)
    assert checked > 50_000
    for name in ("a;b", "a%b", "a/b", "a\\b", "a\nb", "a\u2028b", ".", ".."):
        assert not _name_allowed(name) and unroutable_reason(name) is not None


async def test_the_client_refuses_an_unroutable_name_without_calling_gate(gate: GateStandin) -> None:
    async with GateClient(fast_settings(gate.url)) as client:
        await client.save_pipeline(_pipeline("deploy;v=1"))  # e.g. a rename in the UI
        before = len(gate.requests)
        with pytest.raises(GateRejected, match="';'"):
            await client.delete_pipeline("shop", "x", pipeline_id="p-1")
        # Only the list read that found the current name; no DELETE was sent.
        assert [r.method for r in gate.requests[before:]] == ["GET"]
        assert "p-1" in gate.state.pipelines


# ---- PUT /pipelines/{id}: the path id is not checked -----------------------------------------------------------


async def test_put_with_another_id_in_the_body_saves_the_bodys_pipeline(
    gate: GateStandin, http: aiohttp.ClientSession
) -> None:
    await _call(http, gate, "POST", "/pipelines", json=_pipeline("deploy", "p-1"))
    await _call(http, gate, "POST", "/pipelines", json=_pipeline("build", "p-2"))
    # No 400: Orca saves the body (p-2, renamed); Gate answers with the config of the path id, p-1, untouched.
    status, _, text = await _call(http, gate, "PUT", "/pipelines/p-1", json=_pipeline("build-renamed", "p-2"))
    assert status == 200 and '"id": "p-1"' in text.replace('":"', '": "')
    assert gate.state.pipelines["p-2"]["name"] == "build-renamed"
    assert gate.state.pipelines["p-1"]["name"] == "deploy"
    # A path id nobody has: the body is still saved, and Gate answers 200 with an empty body.
    status, _, text = await _call(http, gate, "PUT", "/pipelines/nope", json=_pipeline("fresh", "p-3"))
    assert (status, text) == (200, "") and gate.state.pipelines["p-3"]["name"] == "fresh"


async def test_the_client_never_sends_a_put_whose_body_id_differs(gate: GateStandin) -> None:
    async with GateClient(fast_settings(gate.url)) as client:
        await client.save_pipeline(_pipeline("deploy", "p-1"))
        await client.save_pipeline(_pipeline("build", "p-2"))
        before = len(gate.requests)
        for body in (_pipeline("hijack", "p-2"), {k: v for k, v in _pipeline("hijack").items() if k != "id"}):
            with pytest.raises(GateRejected, match="body's id"):
                await client.update_pipeline("p-1", body)
        assert len(gate.requests) == before
        assert {p["name"] for p in gate.state.pipelines.values()} == {"deploy", "build"}
        stored = await client.update_pipeline("p-1", _pipeline("deploy-2", "p-1"))
        assert stored["id"] == "p-1" and stored["name"] == "deploy-2"
