"""Prove what issued credentials can do, by asking the remote cluster's own authorizer with those credentials.

Two SelfSubjectRulesReviews (the account's namespace, and a probe namespace it must not reach) answer every check:
namespaced ones from that namespace's rules, cluster-wide ones from the rules both reviews share (a ClusterRoleBinding
shows in every namespace), and the account namespace's rules are compared in full with the Role spinop renders.
When a review is `incomplete` (an authorizer other than RBAC is involved) each check falls back to its own
SelfSubjectAccessReview. Ways to a
long-lived token of the account's own ServiceAccount, which RBAC allows a deployer, are tried as dry-run creates
(nothing is stored) that the remote admission policy spinop-tenant-limits must refuse.
"""

from __future__ import annotations

import kubernetes.client as k8s
from kubernetes.client.rest import ApiException

from spinop.kube.clients import call, client_with_token
from spinop.kube.errors import remote_errors
from spinop.redact import Redacted
from spinop.remote.access import (
    PROBE_NAMESPACE,
    TENANT_LIMITS_POLICY,
    AccessCheck,
    Expectations,
    ResourceRule,
    TokenExposure,
    Verdict,
    judge,
    rules_allow,
)
from spinop.remote.cluster import RemoteCluster
from spinop.remote.identity import rules_review


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


# The least Pod that passes Pod Security "restricted" (which admission checks before spinop-tenant-limits), so only
# the tenant policy can be the reason a dry run of it is refused.
_PROBE_CONTAINER = {
    "name": "probe",
    "image": "registry.k8s.io/pause:3.10",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 65535,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def _exposure_body(exposure: TokenExposure) -> dict[str, object]:
    meta = {"generateName": "spinop-verify-", "namespace": exposure.namespace}
    if exposure.kind == "secret":
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**meta, "annotations": {"kubernetes.io/service-account.name": exposure.service_account}},
            "type": "kubernetes.io/service-account-token",
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"serviceAccountName": exposure.service_account, "containers": [_PROBE_CONTAINER]},
    }


def _exposure_refused(core: k8s.CoreV1Api, exposure: TokenExposure) -> bool:
    """A dry-run create (nothing is stored) as the account: refused by RBAC or by the tenant policy?

    Any other outcome, including success or a refusal for another reason, leaves the exposure unproven."""
    create = core.create_namespaced_secret if exposure.kind == "secret" else core.create_namespaced_pod
    try:
        call(create, exposure.namespace, _exposure_body(exposure), dry_run="All")
    except ApiException as err:
        body = err.body or ""
        if isinstance(body, bytes):
            body = body.decode(errors="replace")
        return err.status in (403, 422) and (TENANT_LIMITS_POLICY in body or "cannot create resource" in body)
    return False


def _may(
    api: k8s.AuthorizationV1Api,
    rules_by_namespace: dict[str, tuple[list[ResourceRule], bool]],
    check: AccessCheck,
) -> bool:
    rules, incomplete = rules_by_namespace.get(check.namespace or "", ([], True))
    return rules_allow(rules, check) or (incomplete and _access_review(api, check))


def verify_access(remote: RemoteCluster, token: Redacted[str], expectations: Expectations) -> Verdict:
    """Ask the remote cluster, as the token's identity, whether each expected check is allowed."""
    client = client_with_token(remote.server, remote.ca_file, token.reveal(), verify=not remote.insecure)
    try:
        api = k8s.AuthorizationV1Api(client)
        checks = [*expectations.allowed, *expectations.denied]
        namespaces = sorted({c.namespace for c in checks if c.namespace} | {expectations.namespace or PROBE_NAMESPACE})
        decide: dict[AccessCheck, bool] = {}
        with remote_errors(remote.name, token=True):
            rules_by_namespace = {ns: rules_review(api, ns) for ns in namespaces}
            complete = not any(incomplete for _, incomplete in rules_by_namespace.values())
            for check in checks:
                if check.namespace is None:
                    # Only a ClusterRoleBinding grants a cluster-wide request, and its rules are in every namespace's
                    # review: allowed in all reviewed namespaces, or refused. Asked one by one only when incomplete.
                    decide[check] = (
                        all(rules_allow(rules, check) for rules, _ in rules_by_namespace.values())
                        if complete
                        else _access_review(api, check)
                    )
                    continue
                rules, incomplete = rules_by_namespace[check.namespace]
                allowed = rules_allow(rules, check)
                if incomplete and not allowed:
                    allowed = _access_review(api, check)
                decide[check] = allowed
            core = k8s.CoreV1Api(client)
            exposed = [
                e
                for e in expectations.exposures
                # Where RBAC already refuses the create there is nothing more to prove (and no request to make).
                if _may(api, rules_by_namespace, e.access) and not _exposure_refused(core, e)
            ]
        own = rules_by_namespace[expectations.namespace] if expectations.namespace else None
        return judge(
            expectations,
            decide,
            exposed,
            granted=own[0] if own else None,
            complete=own is not None and not own[1],
        )
    finally:
        client.close()
