"""The webhook reads only the SpinnakerAccounts that can refuse the one under review, selected by the apiserver
(the CRD's selectableFields spec.cluster, spec.namespace, spec.accountName), not a list of every account.

Objects only: no operator is needed to see what `observe.competing_accounts` reads from the real MGMT apiserver.
The clusters named here do not exist, so other operators on the shared clusters provision nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable

from spinop import GROUP, VERSION
from spinop.admission.observe import competing_accounts
from tests.integration import objects
from tests.integration.kube import Cluster


def test_the_webhook_reads_only_competing_accounts(mgmt: Cluster, fresh_namespace: Callable[..., str]) -> None:
    me_tenant, same_target, same_name, default_name, unrelated = (
        fresh_namespace("mgmt", "sel", labels=objects.TENANT_LABEL) for _ in range(5)
    )
    short = objects.short_id()
    cluster, other_cluster = f"sel-x-{short}", f"sel-y-{short}"
    target = "team-dev"
    my_name = f"{cluster}-{target}"  # the default Spinnaker name of the account under review
    expected = {
        (me_tenant, "own"): objects.spinnaker_account(me_tenant, "own", other_cluster, "elsewhere"),
        (same_target, "target"): objects.spinnaker_account(same_target, "target", cluster, target),
        (same_name, "name"): objects.spinnaker_account(same_name, "name", other_cluster, "n", accountName=my_name),
        # cluster "sel", namespace "x-<id>-team-dev": its default name is my_name too.
        (default_name, "default"): objects.spinnaker_account(default_name, "default", "sel", f"x-{short}-{target}"),
    }
    ignored = [
        objects.spinnaker_account(unrelated, "same-cluster", cluster, "other-dev"),
        objects.spinnaker_account(unrelated, "elsewhere", other_cluster, target),
        objects.spinnaker_account(unrelated, "named", cluster, "named-dev", accountName=f"{my_name}-2"),
    ]
    for body in [*expected.values(), *ignored]:
        objects.create(mgmt, body)
    me = objects.spinnaker_account(me_tenant, "me", cluster, target)

    read = competing_accounts(mgmt.api, me)

    got = {(item["metadata"]["namespace"], item["metadata"]["name"]) for item in read}
    assert got == set(expected), got
    everything = mgmt.custom.list_cluster_custom_object(GROUP, VERSION, "spinnakeraccounts")["items"]
    assert len(read) < len(everything)  # measured in the report: what a full list would have read
    print(f"competing_accounts read {len(read)} of {len(everything)} SpinnakerAccounts in MGMT")
