"""Each status says only what concerns its own object: refusals never name another tenant's objects, a failed
Halyard batch tells each account only its own problems, and Gate errors never carry a token or kubeconfig, whole,
JSON-escaped or in pieces."""

from __future__ import annotations

import base64
import json

import yaml

from spinop.gate.client import _scrub
from spinop.halyard.errors import HalyardError, HalyardRejected
from spinop.halyard.model import Problem, Severity
from spinop.redact import scrub
from spinop.remote.plan import Owner, holder_text
from spinop.spinnaker.halyard_backend import _problem_text
from spinop.tenancy import AccountClaim, check_account_name_unique, check_namespace_sharing
from tests.unit.tenancy.test_account_permissions import cluster

# A real-looking ServiceAccount token (a JWT as the TokenRequest API issues them) and a kubeconfig carrying it.
TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IlVxZ0ZQb1BqT3lKX0JlN2RqWkFQbm5yNE1wR1VjX2NGZ3JNR3lRZjN1S3cifQ."
    "eyJhdWQiOlsiaHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3ZjIl0sImV4cCI6MTc2NDkwMDAwMCwiaWF0IjoxNzY0ODEzNjAwLCJpc3Mi"
    "OiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbS1hLWRldjpzcGlub3At"
    "ZGV2LXRlYW0tYS1kZXYifQ.Kx3v9cQ2mJ8rT1nL0pZ4wY7bU6hS5dF2gA9eR3tW1qX8vC0yN5mB7kH4jE6iO2uP1aS3dG5fH7jK9lQ2wE4rT6"
)
KEY_DATA = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIo2y1nZ3sKe4t...\n").decode()
KUBECONFIG = yaml.safe_dump(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "dev-team-a-dev", "user": {"token": TOKEN, "client-key-data": KEY_DATA}}],
        "contexts": [{"name": "dev-team-a-dev", "context": {"cluster": "dev", "user": "dev-team-a-dev"}}],
        "current-context": "dev-team-a-dev",
    }
)


def assert_clean(text: str) -> None:
    for piece in (TOKEN, TOKEN[:40], TOKEN[-30:], TOKEN[60:90], KEY_DATA[:20], json.dumps(KUBECONFIG)[1:-1]):
        assert piece not in text, piece
    assert "<redacted>" in text


# ------------------------------------------------------------------------------------------------- Gate errors


def test_a_token_is_scrubbed_whole_and_in_pieces() -> None:
    assert_clean(scrub(f"HTTP 400: invalid credentials {TOKEN}", [TOKEN]))
    assert_clean(scrub(f"HTTP 400: token {TOKEN[:40]}... (truncated)", [TOKEN]))
    assert_clean(scrub(f"bad bearer ...{TOKEN[60:90]}...", [TOKEN]))


def test_a_kubeconfig_is_scrubbed_json_escaped_and_its_token_anywhere() -> None:
    body = json.dumps({"error": "Bad Request", "message": f"could not parse {KUBECONFIG}"})
    assert_clean(_scrub(body, [KUBECONFIG]))
    echoed = json.dumps({"message": "account rejected", "definition": {"kubeconfigContents": KUBECONFIG}})
    assert_clean(_scrub(echoed, [KUBECONFIG]))
    assert_clean(_scrub(f"user token: {TOKEN[5:50]}", [KUBECONFIG]))
    assert_clean(_scrub(json.dumps(KUBECONFIG).replace("/", "\\/"), [KUBECONFIG]))  # some encoders escape '/'


def test_scrubbing_keeps_what_is_not_secret() -> None:
    message = "Account dev-team-a-dev already exists (cluster https://10.0.0.1:6443)"
    assert scrub(message, [KUBECONFIG]) == message  # a kubeconfig's boilerplate is not a credential
    assert scrub("nothing to see", [TOKEN]) == "nothing to see"
    assert _scrub("plain", []) == "plain"


# ------------------------------------------------------------------------------------------ Halyard batch failure


def test_a_failed_deploy_tells_each_account_only_its_own_problems() -> None:
    err = HalyardError(
        "deploy failed",
        problems=[
            Problem("Failed to backup user file: /home/spinnaker/.hal/kube/dev-team-b-dev.yaml", Severity.FATAL),
            Problem("No context specified in kubernetes account dev-team-c-dev", Severity.ERROR),
            Problem("bad kinds", Severity.ERROR, location="default.provider.kubernetes.dev-team-a-dev"),
            Problem("clouddriver did not become healthy", Severity.ERROR),
        ],
    )
    batch = ["dev-team-a-dev", "dev-team-b-dev"]
    mine = _problem_text(err, "dev-team-a-dev", batch)
    assert "dev-team-b" not in mine and "dev-team-c" not in mine
    assert "bad kinds" in mine and "clouddriver did not become healthy" in mine
    assert "2 problem(s) with other accounts" in mine
    theirs = _problem_text(err, "dev-team-b-dev", batch)
    assert "dev-team-b-dev.yaml" in theirs and "dev-team-a" not in theirs and "dev-team-c" not in theirs


def test_a_problem_naming_two_accounts_masks_the_other() -> None:
    err = HalyardRejected(
        "add", [Problem("account dev-team-a-dev duplicates the context of dev-team-b-dev", Severity.ERROR)]
    )
    text = _problem_text(err, "dev-team-a-dev", ["dev-team-b-dev"])
    assert "dev-team-b-dev" not in text and "<another account>" in text


# ------------------------------------------------------------------------------------------------- refusals


def test_refusals_never_name_another_tenants_objects() -> None:
    claims = [AccountClaim("team-b", "secret-project", "dev", "team-b-dev-x", "payments-prod")]
    taken = check_account_name_unique("payments-prod", tenant="team-a", name="web", claims=claims)
    assert taken and "team-b" not in taken[0].message and "secret-project" not in taken[0].message
    shared = check_namespace_sharing(
        "team-b-dev-x", tenant="team-a", name="web", cluster_name="dev", cluster=cluster(), claims=claims
    )
    assert shared and "another tenant" in shared[0].message
    assert "team-b" not in shared[0].message.replace("team-b-dev-x", "")
    owner = Owner(cluster="dev", mgmt_namespace="team-a", name="web", uid="u", account_name="a")
    assert holder_text("team-b/secret-project", owner) == "another tenant's SpinnakerAccount"
    assert holder_text("team-a/api", owner) == "SpinnakerAccount team-a/api"
