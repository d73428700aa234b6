"""Fixtures of the reliability suites (issue 8): sizes, a seeded random source, the Halyard stand-in, a tenant's
fleet across the three remote clusters, operator launches, and the session-wide secret-hygiene recorder.

Sizes: every suite runs a short variant by default (CI) and a long one when SPINOP_LONG_RELIABILITY=1. Nothing is
skipped: the size is a parameter, and the test id says which one ran (`[short]` / `[long]`).
Randomness: kill moments and orders come from one seed per test, printed and put in failure messages; set
SPINOP_RELIABILITY_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
from kubernetes.client.rest import ApiException

from tests.integration import objects
from tests.integration.conftest import CREDENTIALS_NAMESPACE, OPERATOR_NAMESPACE
from tests.integration.kube import Cluster
from tests.integration.objects import ensure_namespace
from tests.integration.operator_process import OperatorProcess
from tests.integration.rbac_manifests import request_token, token_kubeconfig, write_kubeconfig
from tests.integration.reliability.fleet import ENVIRONMENTS, Fleet, orphaned_credentials, wait_gone
from tests.integration.reliability.hygiene import SecretRecorder
from tests.integration.reliability.standin import halconfig_account_names, halyard_settings, start_halyard
from tests.integration.spinnaker.standins import HalyardStandinProcess

LONG_ENV = "SPINOP_LONG_RELIABILITY"
SEED_ENV = "SPINOP_RELIABILITY_SEED"


@dataclass(frozen=True)
class Scale:
    """Short (CI) or long (opt-in) variant of a suite."""

    long: bool

    @property
    def name(self) -> str:
        return "long" if self.long else "short"

    def pick(self, short: int, long: int) -> int:
        return long if self.long else short

    def seconds(self, short: float, long: float) -> float:
        return long if self.long else short


SCALE = Scale(os.environ.get(LONG_ENV, "").strip().lower() in {"1", "true", "yes", "on"})
"""Use as `@pytest.mark.parametrize("scale", [SCALE], ids=[SCALE.name])`."""


@dataclass(frozen=True)
class Seeded:
    seed: int
    rng: random.Random

    def __str__(self) -> str:
        return f"{SEED_ENV}={self.seed}"


@pytest.fixture()
def seeded(request: pytest.FixtureRequest) -> Seeded:
    raw = os.environ.get(SEED_ENV)
    seed = int(raw) if raw else random.SystemRandom().randrange(1 << 32)
    request.node.user_properties.append(("seed", seed))
    print(f"[reliability] {request.node.nodeid}: {SEED_ENV}={seed}", file=sys.__stderr__, flush=True)
    return Seeded(seed, random.Random(seed))


# ------------------------------------------------------------------------------------------------ secret hygiene


@pytest.fixture(scope="session")
def hygiene(mgmt: Cluster, admin_kubeconfig_secrets: dict[str, str]) -> Iterator[SecretRecorder]:
    """Records every credentials token, Event and CR status version in MGMT for the whole session."""
    recorder = SecretRecorder(mgmt, CREDENTIALS_NAMESPACE).start()
    yield recorder
    recorder.stop()


class SecretHygiene:
    """The leak check of one module: its operators' logs, and the Events and CR versions recorded meanwhile."""

    def __init__(self, recorder: SecretRecorder) -> None:
        self.recorder = recorder
        self.since = time.time()
        self.operators: list[OperatorProcess] = []

    def texts(self) -> list[tuple[str, str]]:
        logs = [(f"operator log {p.log_path}", p.log()) for p in self.operators]
        return logs + [(r.source, r.text) for r in self.recorder.records_since(self.since)]

    def check(self) -> None:
        # A check that knows no token proves nothing: every module issues credentials.
        assert self.recorder.token_count, (
            f"the recorder saw no credentials Secret (watch errors: {self.recorder.errors})"
        )
        leaks = self.recorder.leaks(self.texts())
        assert not leaks, "secret material where people read it:\n" + "\n".join(map(str, leaks))


@pytest.fixture(scope="module")
def secret_hygiene(hygiene: SecretRecorder) -> SecretHygiene:
    return SecretHygiene(hygiene)


@pytest.fixture(scope="module")
def launch(
    start_operator: Callable[..., OperatorProcess], secret_hygiene: SecretHygiene
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start the real operator (through `start_operator`, so its log is checked for tracebacks at module end);
    when the module ends every launched operator is stopped and the module's secret-hygiene check runs on the
    complete logs."""

    def launch(settings: dict[str, Any], kubeconfig: Path | None = None) -> OperatorProcess:
        process = start_operator(settings, kubeconfig=kubeconfig)
        secret_hygiene.operators.append(process)
        return process

    yield launch
    for process in secret_hygiene.operators:
        process.stop()
    secret_hygiene.check()


@pytest.fixture(scope="session")
def admin_token_kubeconfig(mgmt: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cluster-admin ServiceAccount token for MGMT, for an operator that must manage webhook configurations
    (deploy/base grants no such rights) and still authenticate to the Halyard stand-in's exec endpoint, which
    checks bearer tokens with a TokenReview (the admin client certificate is no token)."""
    ensure_namespace(mgmt, OPERATOR_NAMESPACE)
    name = "spinop-reliability-admin"
    try:
        mgmt.core.create_namespaced_service_account(
            OPERATOR_NAMESPACE, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name))
        )
    except ApiException as err:
        if err.status != 409:
            raise
    binding = k8s.V1ClusterRoleBinding(
        metadata=k8s.V1ObjectMeta(name=name),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=name, namespace=OPERATOR_NAMESPACE)],
    )
    try:
        mgmt.rbac.create_cluster_role_binding(binding)
    except ApiException as err:
        if err.status != 409:
            raise
    token = request_token(mgmt, OPERATOR_NAMESPACE, name, seconds=6 * 3600)
    path = tmp_path_factory.mktemp("reliability-admin") / "kubeconfig"
    return write_kubeconfig(token_kubeconfig(mgmt, token, name="mgmt-admin-token"), path)


# -------------------------------------------------------------------------------------------- Halyard and fleets


@pytest.fixture(scope="module")
def halyard(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mgmt: Cluster
) -> Iterator[HalyardStandinProcess]:
    """A Halyard stand-in of the module's own (deploys take the module's HALYARD_DEPLOY_SECONDS, default 0.5)."""
    deploy_seconds = float(getattr(request.module, "HALYARD_DEPLOY_SECONDS", 0.5))
    standin = start_halyard(tmp_path_factory.mktemp("halyard"), mgmt.kubeconfig, deploy_seconds)
    yield standin
    standin.stop()


def operator_settings(halyard: HalyardStandinProcess, **overrides: Any) -> dict[str, Any]:
    halyard_overrides = overrides.pop("halyard", {})
    return {
        "spinnaker_backend": "halyard",
        "drift_interval_seconds": 30,
        "halyard": halyard_settings(halyard, **halyard_overrides),
        **overrides,
    }


@pytest.fixture()
def fleet(
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    admin_kubeconfig_secrets: dict[str, str],
    fresh_namespace: Callable[..., str],
    halyard: HalyardStandinProcess,
) -> Iterator[Fleet]:
    """A tenant MGMT namespace with a SpinnakerCluster per remote cluster (namespaces `{tenant}-{env}-*`).

    Afterwards every account is deleted through its CR (the operator must be running) and the deletion is checked
    to have left nothing in Halyard or among the credentials."""
    tenant = fresh_namespace("mgmt", "rl", labels=objects.TENANT_LABEL)
    suffix = objects.short_id()
    clusters = {env: f"{env}-{suffix}" for env in ENVIRONMENTS}
    for env, name in clusters.items():
        objects.create(
            mgmt,
            objects.spinnaker_cluster(
                name, admin_kubeconfig_secrets[env], env, tenancy={"namespacePattern": "{tenant}-{environment}-*"}
            ),
        )
    handle = Fleet(mgmt, remotes, tenant, clusters, orphans_before=set(orphaned_credentials(mgmt)))
    if handle.orphans_before:
        print(f"[reliability] orphaned credentials before this test: {sorted(handle.orphans_before)}", file=sys.stderr)
    yield handle
    names = list(handle.listed())
    for name in names:
        handle.delete(name)
    wait_gone(handle, names, timeout=SCALE.seconds(180, 600))
    left = [n for n in halconfig_account_names(halyard) if tenant in n]
    secrets = mgmt.core.list_namespaced_secret(
        CREDENTIALS_NAMESPACE, label_selector=f"spinop.io/account-namespace={tenant}"
    ).items
    for name in clusters.values():
        objects.delete(mgmt, "SpinnakerCluster", name)
    assert not left, f"deleted accounts are still in Halyard: {left}"
    assert not secrets, f"deleted accounts left credentials Secrets: {[s.metadata.name for s in secrets]}"
