"""The kubeconfig Spinnaker gets for one account: one cluster, one token, one context named after the account."""

from __future__ import annotations

from typing import Any

import yaml

from spinop.redact import Redacted


def render_kubeconfig(
    *,
    account_name: str,
    cluster_name: str,
    server: str,
    ca_data: str | None,
    token: Redacted[str],
    namespace: str,
    insecure: bool = False,
) -> Redacted[str]:
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": account_name, "user": {"token": token.reveal()}}],
        "contexts": [
            {"name": account_name, "context": {"cluster": cluster_name, "user": account_name, "namespace": namespace}}
        ],
        # Halyard needs a context or current-context, or the deploy fails (contracts/halyard.md §4).
        "current-context": account_name,
    }
    return Redacted(yaml.safe_dump(document, sort_keys=False))


def token_of(kubeconfig: Redacted[str]) -> Redacted[str] | None:
    """The bearer token of a kubeconfig rendered by `render_kubeconfig`."""
    try:
        document = yaml.safe_load(kubeconfig.reveal())
        return Redacted(str(document["users"][0]["user"]["token"]))
    except (yaml.YAMLError, KeyError, IndexError, TypeError):
        return None
