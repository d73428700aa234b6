"""Prove what issued credentials can do, by asking the remote cluster's own authorizer with those credentials.

Two SelfSubjectRulesReviews (the account's namespace, and a probe namespace it must not reach) answer every
namespaced check; SelfSubjectAccessReviews answer the cluster-scoped ones. When a review is `incomplete` (an
authorizer other than RBAC is involved) each check falls back to its own SelfSubjectAccessReview.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException

from spinop.errors import SpinopError
from spinop.kube.clients import call, client_with_token, remote_errors
from spinop.redact import Redacted
from spinop.remote.access import AccessCheck, Expectations, ResourceRule, Verdict, judge, rules_allow
from spinop.remote.cluster import RemoteCluster


class TokenRejected(SpinopError):
    """The cluster does not accept the account's token (expired, revoked, or its ServiceAccount was re-created)."""

    reason = "TokenRejected"
    retry_after = 5.0


def _rules(api: k8s.AuthorizationV1Api, namespace: str) -> tuple[list[ResourceRule], bool]:
    review = call(
        api.create_self_subject_rules_review,
        k8s.V1SelfSubjectRulesReview(spec=k8s.V1SelfSubjectRulesReviewSpec(namespace=namespace)),
    )
    rules = [
        ResourceRule(
            verbs=tuple(r.verbs or ()),
            api_groups=tuple(r.api_groups or ()),
            resources=tuple(r.resources or ()),
            resource_names=tuple(r.resource_names or ()),
        )
        for r in review.status.resource_rules or []
    ]
    return rules, bool(review.status.incomplete)


def _access_review(api: k8s.AuthorizationV1Api, check: AccessCheck) -> bool:
    review = call(
        api.create_self_subject_access_review,
        k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(
                    verb=check.verb,
                    group=check.group,
                    resource=check.resource.split("/")[0],
                    subresource=check.resource.split("/")[1] if "/" in check.resource else None,
                    namespace=check.namespace,
                    name=check.name,
                )
            )
        ),
    )
    return bool(review.status.allowed)


@contextlib.contextmanager
def _token_rejections(cluster: str) -> Iterator[None]:
    try:
        yield
    except ApiException as err:
        if err.status == 401:
            raise TokenRejected(f"cluster {cluster} rejected the account's token (HTTP 401)") from None
        raise


def verify_access(remote: RemoteCluster, token: Redacted[str], expectations: Expectations) -> Verdict:
    """Ask the remote cluster, as the token's identity, whether each expected check is allowed."""
    client = client_with_token(remote.server, remote.ca_file, token.reveal(), verify=not remote.insecure)
    try:
        api = k8s.AuthorizationV1Api(client)
        checks = [*expectations.allowed, *expectations.denied]
        namespaces = sorted({c.namespace for c in checks if c.namespace})
        decide: dict[AccessCheck, bool] = {}
        with remote_errors(remote.name), _token_rejections(remote.name):
            rules_by_namespace = {ns: _rules(api, ns) for ns in namespaces}
            for check in checks:
                if check.namespace is None:
                    decide[check] = _access_review(api, check)
                    continue
                rules, incomplete = rules_by_namespace[check.namespace]
                allowed = rules_allow(rules, check)
                if incomplete and not allowed:
                    allowed = _access_review(api, check)
                decide[check] = allowed
        return judge(expectations, decide)
    finally:
        client.close()
