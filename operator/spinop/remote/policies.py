"""Whether deploy/remote's admission policies are in force on a remote cluster (read by the cluster probe).

`spinop-remote-limits` bounds what spinop's own identity may write; `spinop-tenant-limits` refuses what RBAC cannot
refuse a tenant (a long-lived token of its account's ServiceAccount, Services with externalIPs). Both are installed
by the cluster's admin with deploy/remote, never by spinop: creating admission policies would let spinop's identity
switch off any admission check on the cluster.
"""

from __future__ import annotations

import kubernetes.client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from spinop.kube.clients import get_or_none

REQUIRED_POLICIES = ("spinop-remote-limits", "spinop-tenant-limits")


def policy_problems(api: ApiClient, names: tuple[str, ...] = REQUIRED_POLICIES) -> list[str]:
    """What is wrong with the policies and their bindings, one phrase each; empty when all are enforced."""
    admission = k8s.AdmissionregistrationV1Api(api)
    problems: list[str] = []
    for name in names:
        try:
            policy = get_or_none(admission.read_validating_admission_policy, name)
            binding = get_or_none(admission.read_validating_admission_policy_binding, name)
        except ApiException as err:
            if err.status != 403:
                raise
            problems.append(f"spinop may not read ValidatingAdmissionPolicy {name} (re-apply deploy/remote)")
            continue
        if policy is None:
            problems.append(f"ValidatingAdmissionPolicy {name} is missing")
        elif binding is None:
            problems.append(f"ValidatingAdmissionPolicyBinding {name} is missing")
        elif binding.spec.policy_name != name or "Deny" not in (binding.spec.validation_actions or []):
            problems.append(f"ValidatingAdmissionPolicyBinding {name} does not Deny with policy {name}")
        elif binding.spec.match_resources is not None:
            problems.append(f"ValidatingAdmissionPolicyBinding {name} is narrowed by matchResources")
    return problems
