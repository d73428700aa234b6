"""The SpinnakerAccount controller's orchestration where it needs no cluster: the finalizer's waits."""

from __future__ import annotations

from typing import Any

import pytest


def body(
    name: str = "web",
    *,
    tenant: str = "team-a",
    uid: str = "uid-web",
    created: str = "2026-01-01T10:00:00Z",
    spec: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "spinop.io/v1alpha1",
        "kind": "SpinnakerAccount",
        "metadata": {"name": name, "namespace": tenant, "uid": uid, "creationTimestamp": created},
        "spec": {"cluster": "dev", "namespace": "team-a-dev"} if spec is None else spec,
        **extra,
    }


# ---------------------------------------------------------------------------------------------- finalize


async def test_deleting_an_account_whose_cluster_spinop_cannot_read_waits_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SpinnakerCluster stored under an older CRD (or while the webhook was down) used to crash the finalizer with a
    pydantic traceback on every retry; it now says what the admin must fix and retries quietly."""
    import kopf

    from spinop.controllers import accounts
    from spinop.controllers.context import KeyedLocks

    writes: list[Any] = []
    deleted: list[str] = []

    class Status:
        def update(self, ref: Any, *, conditions: Any = (), **_: Any) -> None:
            writes.extend(conditions)

    class Context:
        sync = None
        mgmt = None
        locks = KeyedLocks()
        account_status = Status()

        class config:  # the one setting finalize reads here
            credentials_namespace = "devops"

    monkeypatch.setattr(accounts.store, "delete_credentials", lambda mgmt, ns, name, uid: deleted.append(name))
    unreadable = {"metadata": {"name": "dev"}, "spec": {"kubeconfigSecretRef": {"name": 7}, "tenancy": "nope"}}
    with pytest.raises(kopf.TemporaryError) as retried:
        await accounts.finalize(Context(), body(), claims=[], cluster_body=unreadable)  # type: ignore[arg-type]
    assert retried.value.delay == 60
    assert deleted == ["spinop-dev-team-a-dev"]  # the credentials Secret goes at once, as for any deletion
    (condition,) = writes
    assert (condition.type, condition.status, condition.reason) == ("RemoteProvisioned", "False", "ClusterInvalid")
    assert "SpinnakerCluster 'dev' has a spec spinop cannot read" in condition.message
    assert "removed, and the deletion finishes, once it is fixed" in condition.message
