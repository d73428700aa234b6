"""What one SpinnakerAccount asks for: its remote objects, its credentials policy and its Spinnaker account."""

from __future__ import annotations

import hashlib

from spinop.accounts.guardrails import account_guardrails
from spinop.api.v1alpha1 import Permissions, SpinnakerAccountSpec, SpinnakerClusterSpec
from spinop.credentials.policy import CredentialsPolicy
from spinop.redact import Redacted
from spinop.remote.cluster import RemoteCluster
from spinop.remote.guardrails import namespace_annotations
from spinop.remote.plan import DesiredRemote, Owner
from spinop.remote.profiles import Rule, kinds_for
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount


def credentials_policy(cluster: SpinnakerClusterSpec) -> CredentialsPolicy:
    """The cluster's spec.credentials as the credentials policy reads them."""
    creds = cluster.credentials
    return CredentialsPolicy(
        type=creds.type.value,
        ttl_seconds=int(creds.ttl_delta.total_seconds()),
        renew_before_seconds=int(creds.renew_before_delta.total_seconds()),
        rotation_interval_seconds=int(creds.rotation_interval_delta.total_seconds()),
        audiences=tuple(creds.audiences or ()),
    )


def extra_rules(spec: SpinnakerAccountSpec) -> tuple[Rule, ...]:
    return tuple(Rule(tuple(r.api_groups), tuple(r.resources), tuple(r.verbs)) for r in spec.extra_rules or ())


def build_desired_remote(owner: Owner, spec: SpinnakerAccountSpec, cluster: SpinnakerClusterSpec) -> DesiredRemote:
    """The remote objects a SpinnakerAccount asks for (shared by the reconcile and `spinop plan`)."""
    labels, guardrails = account_guardrails(cluster, spec)
    return DesiredRemote(
        owner=owner,
        namespace=spec.namespace,
        profile=spec.profile,
        extra_rules=extra_rules(spec),
        namespace_labels=labels,
        namespace_annotations=namespace_annotations(cluster.tenancy.guardrails, owner.mgmt_namespace),
        guardrails=guardrails,
        namespace_granted=any(
            g.namespace == spec.namespace and g.tenant == owner.mgmt_namespace
            for g in cluster.tenancy.existing_namespaces or ()
        ),
    )


def render_key(remote: RemoteCluster, spec: SpinnakerAccountSpec) -> str:
    """What the stored kubeconfig was rendered from, but the token: when it changes the kubeconfig is rendered anew."""
    raw = f"{remote.tenant_server}|{remote.ca_data}|{remote.insecure}|{spec.namespace}|{spec.effective_account_name}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def spinnaker_permissions(permissions: Permissions) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Spinnaker's READ/WRITE/EXECUTE/CREATE role lists, each sorted: order carries no meaning, never a reason to
    write."""
    pairs = []
    for key, roles in (
        ("READ", permissions.read),
        ("WRITE", permissions.write),
        ("EXECUTE", permissions.execute),
        ("CREATE", permissions.create),
    ):
        if roles is not None:
            pairs.append((key, tuple(sorted(roles))))
    return tuple(pairs)


def desired_spinnaker_account(
    owner: AccountOwner,
    spec: SpinnakerAccountSpec,
    environment: str,
    kubeconfig: Redacted[str],
    fingerprint: str,
    *,
    permissions: Permissions,
) -> DesiredSpinnakerAccount:
    """The Spinnaker account a SpinnakerAccount asks for (shared by the reconcile and `spinop plan`).

    `permissions`: the effective ones (`tenancy.effective_permissions`: spec.permissions or the cluster's default).
    """
    account_name = spec.effective_account_name
    return DesiredSpinnakerAccount(
        owner=owner,
        name=account_name,
        environment=environment,
        namespace=spec.namespace,
        context=account_name,
        kubeconfig=kubeconfig,
        kubeconfig_fingerprint=fingerprint,
        # The profile's kinds unless the tenant chose: clouddriver then never probes kinds it cannot read.
        kinds=tuple(spec.kinds) if spec.kinds else (() if spec.omit_kinds else tuple(kinds_for(spec.profile))),
        omit_kinds=tuple(spec.omit_kinds or ()),
        permissions=spinnaker_permissions(permissions),
        only_spinnaker_managed=spec.only_spinnaker_managed,
        cache_threads=spec.cache_threads,
        custom_resources=tuple(
            (c.kubernetes_kind, c.spinnaker_kind.value, c.versioned) for c in spec.custom_resources or ()
        ),
        adopt=spec.adopt,
    )
