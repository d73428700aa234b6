"""Upstream facts behind issue 16's caps on shared resources and its account-name rules.

Read in spinnaker/clouddriver at 2f5e98f0 (May 2025) and spinnaker/halyard at 23e66d69 (Apr 2025).
"""

from __future__ import annotations

from spinop.api.v1alpha1 import SpinnakerAccountSpec
from spinop.halyard.model import _SCALAR_DEFAULTS
from spinop.redact import Redacted
from spinop.spinnaker.desired import AccountOwner, DesiredSpinnakerAccount


def _desired(cache_threads: int) -> DesiredSpinnakerAccount:
    return DesiredSpinnakerAccount(
        owner=AccountOwner("team-a", "web", "uid"),
        name="team-a-web",
        environment="dev",
        namespace="team-a-dev",
        context="team-a-web",
        kubeconfig=Redacted("apiVersion: v1"),
        kubeconfig_fingerprint="sha256:00",
        cache_threads=cache_threads,
    )


def test_cache_threads_default_to_one_as_in_clouddriver_and_halyard() -> None:
    # clouddriver: clouddriver-kubernetes/src/main/java/com/netflix/spinnaker/clouddriver/kubernetes/config/
    #   KubernetesAccountProperties.java: `DEFAULT_CACHE_THREADS = 1`, `int cacheThreads = DEFAULT_CACHE_THREADS`
    # halyard: halyard-config/src/main/java/com/netflix/spinnaker/halyard/config/model/v1/providers/kubernetes/
    #   KubernetesAccount.java: `int cacheThreads = 1;`
    assert SpinnakerAccountSpec.model_validate({"cluster": "dev", "namespace": "team-a-dev"}).cache_threads == 1
    assert _SCALAR_DEFAULTS["cacheThreads"] == 1


def test_each_cache_thread_is_a_full_set_of_caching_agents_in_the_shared_clouddriver() -> None:
    # clouddriver: clouddriver-kubernetes/src/main/java/com/netflix/spinnaker/clouddriver/kubernetes/caching/agent/
    #   KubernetesCachingAgentDispatcher.java, buildAllCachingAgents:
    #   `IntStream.range(0, credentials.getCacheThreads())`
    #   builds one caching agent per resource handler per thread, all in the one clouddriver every tenant shares.
    #   So the value spinop sends is multiplied work for everybody: capped per tenant
    #   (tenancy.maxCacheThreadsPerTenant) on top of the CRD's 32 per account, and sent exactly as asked.
    assert _desired(3).managed_fields()["cacheThreads"] == 3
    assert SpinnakerAccountSpec.model_json_schema()["properties"]["cacheThreads"]["maximum"] == 32


def test_halyard_puts_no_tenant_rule_on_kubernetes_account_names() -> None:
    # halyard: halyard-config/src/main/java/com/netflix/spinnaker/halyard/config/validate/v1/providers/
    #   AccountValidator.java only requires a name ("Account name must be specified"); only Docker registry and canary
    #   accounts get a pattern. Names are global keys in clouddriver's credentials repository, so the rule that a
    #   name carries its tenant (`tenancy.check_account_name_owned`) is spinop's alone and must hold before Halyard.
    from spinop.tenancy import Boundaries, check_account_name_owned

    assert check_account_name_owned("shared", tenant="team-a", default_name="dev-team-a-dev", boundaries=Boundaries())
    assert not check_account_name_owned(
        "team-a-web", tenant="team-a", default_name="dev-team-a-dev", boundaries=Boundaries()
    )
