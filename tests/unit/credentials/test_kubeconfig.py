"""The kubeconfig Spinnaker gets: one cluster, one user holding the token, one context named after the account."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from spinop.credentials.kubeconfig import render_kubeconfig, token_of
from spinop.redact import Redacted

TOKEN = "eyJhbGciOiJSUzI1NiJ9.s3cret-payload.sig"


def render(token: str = TOKEN, **changes: Any) -> Redacted[str]:
    args: dict[str, Any] = {
        "account_name": "dev-web",
        "cluster_name": "dev",
        "server": "https://dev.example:6443",
        "ca_data": "Q0EtREFUQQ==",
        "token": Redacted(token),
        "namespace": "team-a-dev",
        **changes,
    }
    return render_kubeconfig(**args)


def parsed(kubeconfig: Redacted[str]) -> dict[str, Any]:
    document = yaml.safe_load(kubeconfig.reveal())
    assert isinstance(document, dict)
    return document


def test_one_context_named_after_the_account_is_current_and_sets_the_namespace() -> None:
    doc = parsed(render())
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "Config")
    assert doc["current-context"] == "dev-web"
    assert doc["contexts"] == [
        {"name": "dev-web", "context": {"cluster": "dev", "user": "dev-web", "namespace": "team-a-dev"}}
    ]
    assert doc["clusters"] == [
        {"name": "dev", "cluster": {"server": "https://dev.example:6443", "certificate-authority-data": "Q0EtREFUQQ=="}}
    ]


def test_the_token_is_only_in_the_user() -> None:
    kubeconfig = render()
    doc = parsed(kubeconfig)
    assert doc["users"] == [{"name": "dev-web", "user": {"token": TOKEN}}]
    assert kubeconfig.reveal().count("s3cret-payload") == 1
    for section in ("clusters", "contexts"):
        assert "s3cret" not in yaml.safe_dump(doc[section])


def test_the_rendered_kubeconfig_stays_redacted() -> None:
    kubeconfig = render()
    assert "s3cret" not in repr(kubeconfig) and "s3cret" not in str(kubeconfig) and "s3cret" not in f"{kubeconfig}"


def test_without_a_ca_and_with_insecure_the_cluster_skips_verification() -> None:
    doc = parsed(render(ca_data=None, insecure=True))
    assert doc["clusters"][0]["cluster"] == {"server": "https://dev.example:6443", "insecure-skip-tls-verify": True}
    assert "insecure-skip-tls-verify" not in parsed(render())["clusters"][0]["cluster"]


@pytest.mark.parametrize("token", [TOKEN, "12345", "0x1F", "true", "null", "a: b", "- x", "'quoted'", "#hash"])
def test_token_of_reads_back_exactly_the_rendered_token(token: str) -> None:
    found = token_of(render(token))
    assert found is not None and found.reveal() == token


@pytest.mark.parametrize(
    "text",
    ["", "not: [yaml", "users: []", "users: [{name: x}]", "- a list", "apiVersion: v1"],
    ids=["empty", "broken-yaml", "no-users", "user-without-token", "a-list", "no-users-key"],
)
def test_token_of_something_else_is_none(text: str) -> None:
    assert token_of(Redacted(text)) is None
