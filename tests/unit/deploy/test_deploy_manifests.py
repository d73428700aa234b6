"""Every install manifest under deploy/: valid Kubernetes objects, hardened, and with exactly the RBAC spinop needs.

Renders go through the real `kubectl kustomize` (the kubectl built with the control planes) and every built-in
object is checked against the Kubernetes OpenAPI schema of the pinned version (`kubernetes-validate`, strict: an
unknown or misspelt field fails). Integration tests run the operator under these same RBAC objects
(tests/integration/rbac_manifests.py); this file pins down their shape, so widening a permission is a visible change.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from spinop.api import crdgen
from spinop.config import OperatorConfig
from spinop.devcluster.build import pinned_version
from spinop.devcluster.paths import build_dir, project_root

ROOT = project_root()
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
HELM = DEPLOY / "helm"
COMPONENTS = sorted(p.parent.name for p in (BASE / "components").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = pinned_version(ROOT / "tools" / "controlplane" / "kubernetes", "k8s.io/kubernetes")
SCHEMA_VERSION = ".".join(KUBERNETES_VERSION.lstrip("v").split(".")[:2])

OPERATOR_SA = ("spinop-system", "spinop")
SPINOP_KINDS = ("spinnakerclusters", "spinnakeraccounts", "spinnakerpipelines")
SPINOP_KINDS_SORTED = tuple(sorted(SPINOP_KINDS))
TENANT_KINDS = ("spinnakeraccounts", "spinnakerpipelines")
#: API groups kubernetes-validate has no schema for; their objects get a shape check only.
FOREIGN_GROUPS = ("spinop.io", "cert-manager.io", "kopf.dev")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

Obj = dict[str, Any]


# ------------------------------------------------------------------------------------------------------- rendering


def _kubectl() -> Path:
    path = build_dir() / "bin" / f"kubernetes-{KUBERNETES_VERSION}" / "kubectl"
    if not path.is_file():
        pytest.skip(f"kubectl {KUBERNETES_VERSION} is not built yet: run `spinop dev build` (make test does)")
    return path


def _kustomize(directory: Path) -> list[Obj]:
    result = subprocess.run(
        [str(_kubectl()), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {directory.relative_to(ROOT)} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _render_with_components(components: Iterable[str]) -> list[Obj]:
    with tempfile.TemporaryDirectory(prefix="spinop-overlay-") as tmp:
        overlay = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(BASE, tmp)],
            "components": [os.path.relpath(BASE / "components" / name, tmp) for name in components],
        }
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
        return _kustomize(Path(tmp))


RENDERS: dict[str, Callable[[], list[Obj]]] = {
    "base": partial(_kustomize, BASE),
    **{f"base+{name}": partial(_render_with_components, [name]) for name in COMPONENTS},
    # One webhook variant at a time (both include components/webhook): all-components takes cert-manager's.
    "base+all-components": partial(
        _render_with_components, [c for c in COMPONENTS if c not in ("webhook", "webhook-self-signed")]
    ),
    "overlays/dev": partial(_kustomize, DEPLOY / "overlays" / "dev"),
    "remote": partial(_kustomize, DEPLOY / "remote"),
    "overlays/remote-token-request-only": partial(_kustomize, DEPLOY / "overlays" / "remote-token-request-only"),
    "samples": partial(_kustomize, DEPLOY / "samples"),
}
_cache: dict[str, list[Obj]] = {}


def rendered(name: str) -> list[Obj]:
    if name not in _cache:
        _cache[name] = RENDERS[name]()
    return _cache[name]


def find(objects: Iterable[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _group(obj: Obj) -> str:
    api_version = str(obj["apiVersion"])
    return api_version.split("/")[0] if "/" in api_version else ""


def _validate(obj: Obj) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is a dev dependency: pip install -e '.[dev]'"
    )
    try:
        kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        where = "/".join(str(p) for p in err.path)
        raise AssertionError(f"{obj['kind']} {obj['metadata'].get('name')}: {err.message} at {where}") from None


# ------------------------------------------------------------------------------------------ files and kustomizations


def _yaml_files() -> list[Path]:
    # deploy/helm holds a chart (templates are not YAML until helm renders them): tests/unit/deploy/test_helm_chart.py.
    return sorted(
        p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml") and HELM not in p.parents
    )


def _kustomizations() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.name in KUSTOMIZATION_FILES)


def _referenced_files() -> tuple[set[Path], set[Path]]:
    """(resource files, patch files) named by every kustomization under deploy/."""
    resources: set[Path] = set()
    patches: set[Path] = set()
    for path in _kustomizations():
        doc = yaml.safe_load(path.read_text())
        for entry in doc.get("resources") or []:
            target = (path.parent / entry).resolve()
            assert target.exists(), f"{path.relative_to(ROOT)} names {entry}, which does not exist"
            if target.is_file():
                resources.add(target)
        for entry in doc.get("components") or []:
            assert (path.parent / entry / "kustomization.yaml").is_file(), f"{path}: component {entry} is missing"
        for patch in doc.get("patches") or []:
            if "path" in patch:
                target = (path.parent / patch["path"]).resolve()
                assert target.is_file(), f"{path.relative_to(ROOT)} names patch {patch['path']}, which does not exist"
                patches.add(target)
    return resources, patches


def test_every_manifest_under_deploy_is_used_by_a_kustomization() -> None:
    resources, patches = _referenced_files()
    orphans = [
        p.relative_to(ROOT)
        for p in _yaml_files()
        if p.name not in KUSTOMIZATION_FILES and p.resolve() not in resources | patches
    ]
    assert not orphans, f"manifests no kustomization applies (add them to one, or delete them): {orphans}"


@pytest.mark.parametrize(
    "path", [p for p in _yaml_files() if p.name not in KUSTOMIZATION_FILES], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_manifest_file_is_valid_on_its_own(path: Path) -> None:
    """Each file as written (patches are partial objects: they are validated after rendering)."""
    _, patches = _referenced_files()
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert docs, f"{path} is empty"
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{path}: not a Kubernetes object"
        assert doc["metadata"].get("name"), f"{path}: {doc['kind']} without a name"
        if path.resolve() in patches or _group(doc) in FOREIGN_GROUPS:
            continue
        _validate(doc)


# ----------------------------------------------------------------------------------------------------- renderings


@pytest.mark.parametrize("render", sorted(RENDERS))
def test_every_rendered_object_matches_the_kubernetes_schema(render: str) -> None:
    objects = rendered(render)
    assert objects
    names = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), f"{render}: duplicate objects"
    for obj in objects:
        if _group(obj) in FOREIGN_GROUPS:
            assert obj["metadata"]["name"]
            continue
        _validate(obj)


def test_the_base_carries_exactly_the_generated_crds() -> None:
    generated = {crd["metadata"]["name"]: crd for crd in crdgen.build_crds()}
    crds = {o["metadata"]["name"]: o for o in find(rendered("base"), "CustomResourceDefinition")}
    assert crds.keys() == generated.keys()
    for name, crd in crds.items():
        assert crd == generated[name], f"{name}: the rendered CRD differs from the models' CRD"
    # The copies kustomize reads must be byte-identical to the generated files (repository root crds/).
    copies = {p.name: p.read_text(encoding="utf-8") for p in (BASE / "crds").glob("*.yaml")}
    fresh = crdgen.rendered_crds()
    stale = sorted(name for name in fresh if copies.get(name) != fresh[name]) + sorted(copies.keys() - fresh.keys())
    assert not stale, f"deploy/base/crds is stale ({stale}): run `spinop crds && cp crds/*.yaml deploy/base/crds/`"


def test_no_kustomization_sets_a_namespace() -> None:
    """`namespace:` would move the credentials Role into the operator namespace and rename both Namespaces."""
    for path in _kustomizations():
        assert "namespace" not in (yaml.safe_load(path.read_text()) or {}), path


# ------------------------------------------------------------------------------------------------------ deployment


def _deployments() -> Iterator[tuple[str, Obj]]:
    for render in RENDERS:
        for deployment in find(rendered(render), "Deployment"):
            yield render, deployment


def _command_line(container: Obj) -> list[str]:
    argv = [*container.get("command", []), *container.get("args", [])]
    if argv[:2] == ["/bin/sh", "-c"]:
        return shlex.split(argv[2])[1:] if argv[2].startswith("exec ") else shlex.split(argv[2])
    return argv


def test_the_operator_pod_runs_non_root_read_only_and_without_privileges() -> None:
    deployments = list(_deployments())
    assert {render for render, _ in deployments} >= {"base", "overlays/dev", "base+all-components"}
    for render, deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        pod_security = pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True, render
        assert isinstance(pod_security["runAsUser"], int) and pod_security["runAsUser"] > 0, render
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, render
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), render
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, render
            assert security["readOnlyRootFilesystem"] is True, render
            assert security.get("privileged", False) is False, render
            assert security["capabilities"] == {"drop": ["ALL"]}, render
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), render
            assert {"cpu", "memory"} <= resources["limits"].keys(), render
            # The only writable path is /tmp, and it is an emptyDir.
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]], render
            for path, mount in mounts.items():
                if path != "/tmp":
                    assert mount.get("readOnly") is True, f"{render}: {path} is writable"


def test_the_container_runs_spinop_run_with_a_liveness_probe_on_kopfs_endpoint() -> None:
    for render, deployment in _deployments():
        pod = deployment["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "spinop")
        argv = _command_line(container)
        assert argv[:2] == ["spinop", "run"], f"{render}: the container runs {argv}"
        assert not any(a.startswith(("-n", "--namespace")) for a in argv), f"{render}: spinop must watch all namespaces"
        liveness = next(a.split("=", 1)[1] for a in argv if a.startswith("--liveness="))
        match = re.fullmatch(r"http://0\.0\.0\.0:(\d+)(/\S*)", liveness)
        assert match, liveness
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        defaults = OperatorConfig()
        assert ports["metrics"] == defaults.metrics.port and ports["webhook"] == defaults.admission.port, render
        assert len(set(ports.values())) == len(ports), render
        for probe in ("livenessProbe", "startupProbe"):
            http = container[probe]["httpGet"]
            assert http["path"] == match.group(2), f"{render}: {probe}"
            assert ports[http["port"]] == int(match.group(1)), f"{render}: {probe}"
        assert "readinessProbe" not in container, "kopf has no readiness: a paused or busy operator is not unready"
        # Exactly one of standalone (one replica, Recreate) or peering (with a random priority).
        if "--standalone" in argv:
            assert deployment["spec"]["replicas"] == 1, render
            assert deployment["spec"]["strategy"] == {"type": "Recreate"}, render
            assert not any(a.startswith("--peering") for a in argv), render
        else:
            assert any(a.startswith("--peering=") for a in argv), f"{render}: neither --standalone nor --peering"
            assert any(a.startswith("--priority=") and "$(" in a for a in argv), f"{render}: priority must be random"
        assert ":" in container["image"] and not container["image"].endswith(":latest"), render


def test_the_settings_config_map_is_a_valid_operator_config_and_feeds_the_deployment(tmp_path: Path) -> None:
    for render in ("base", "overlays/dev"):
        objects = rendered(render)
        config_map = one(objects, "ConfigMap", "spinop-config")
        deployment = one(objects, "Deployment", "spinop")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["SPINOP_OPERATOR_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
        assert env["SPINOP_CREDENTIALS_NAMESPACE"]["valueFrom"]["configMapKeyRef"] == {
            "name": "spinop-config",
            "key": "credentials-namespace",
        }
        # What the Pod sees: the mounted file named by SPINOP_CONFIG, plus the two namespaces from the environment.
        mount = next(m for m in container["volumeMounts"] if env["SPINOP_CONFIG"]["value"].startswith(m["mountPath"]))
        volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
        assert volume["configMap"]["name"] == "spinop-config"
        item = next(i for i in volume["configMap"]["items"] if env["SPINOP_CONFIG"]["value"].endswith(i["path"]))
        settings_file = tmp_path / f"{render.replace('/', '-')}.yaml"
        settings_file.write_text(config_map["data"][item["key"]])
        settings = yaml.safe_load(settings_file.read_text())
        assert "credentials_namespace" not in settings and "operator_namespace" not in settings
        config = OperatorConfig.load(
            {
                "SPINOP_CONFIG": str(settings_file),
                "SPINOP_OPERATOR_NAMESPACE": deployment["metadata"]["namespace"],
                "SPINOP_CREDENTIALS_NAMESPACE": config_map["data"]["credentials-namespace"],
            }
        )
        assert config.credentials_namespace == config_map["data"]["credentials-namespace"]
        assert config.operator_namespace == "spinop-system"


def test_the_credentials_namespace_role_and_setting_agree() -> None:
    """In the base (devops) and in the dev overlay, which renames it: one namespace, one Role, one setting."""
    for render, expected in (("base", "devops"), ("overlays/dev", "spinop-dev-credentials")):
        objects = rendered(render)
        assert one(objects, "ConfigMap", "spinop-config")["data"]["credentials-namespace"] == expected
        namespaces = {o["metadata"]["name"] for o in find(objects, "Namespace")}
        assert namespaces == {"spinop-system", expected}, render
        role = one(objects, "Role", "spinop-credentials")
        binding = one(objects, "RoleBinding", "spinop-credentials")
        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == expected, render


def test_the_image_runs_as_the_deployments_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    # Pinned by digest (issue 16 item 12): a re-pushed tag must not change what is built.
    assert len(bases) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?@sha256:[0-9a-f]{64}", bases[0])
    assert [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")] == [
        "${PYTHON_IMAGE}",
        "${PYTHON_IMAGE}",
    ]
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert len(users) == 1 and re.fullmatch(r"\d+:\d+", users[0]), "USER must be numeric (runAsNonRoot checks it)"
    uid, gid = (int(x) for x in users[0].split(":"))
    pod = one(rendered("base"), "Deployment", "spinop")["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)


# ------------------------------------------------------------------------------------------------------------ RBAC


def _rules(obj: Obj) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    return [
        (
            tuple(sorted(r.get("apiGroups", []))),
            tuple(sorted(r.get("resources", []))),
            tuple(sorted(r.get("verbs", []))),
            tuple(sorted(r.get("resourceNames", []))),
        )
        for r in obj.get("rules", [])
    ]


def _grants(obj: Obj, group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for groups, resources, rule_verbs, _ in _rules(obj):
        if (group in groups or "*" in groups) and (resource in resources or "*" in resources):
            verbs |= set(rule_verbs)
    return verbs


def _roles_bound_to_operator(objects: list[Obj]) -> list[Obj]:
    bound = []
    for binding in find(objects, "RoleBinding") + find(objects, "ClusterRoleBinding"):
        subjects = {(s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"}
        if OPERATOR_SA not in subjects:
            continue
        assert subjects == {OPERATOR_SA}, f"{binding['metadata']['name']} also binds {subjects}"
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        matches = [r for r in find(objects, ref["kind"], ref["name"]) if r["metadata"].get("namespace") == namespace]
        assert len(matches) == 1, f"{binding['metadata']['name']} binds {ref['kind']} {ref['name']}, not rendered"
        bound.append(matches[0])
    return bound


def test_the_operator_service_account_is_bound_to_exactly_the_derived_rules() -> None:
    """The rules of docs/install.md's table; a change here is a change of spinop's privileges: update the doc too."""
    objects = rendered("base")
    deployment = one(objects, "Deployment", "spinop")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == OPERATOR_SA[1]
    granted = {
        (r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]): sorted(_rules(r))
        for r in _roles_bound_to_operator(objects)
    }
    assert granted == {
        ("ClusterRole", None, "spinop-operator"): sorted(
            [
                (("spinop.io",), SPINOP_KINDS_SORTED, ("get", "list", "patch", "watch"), ()),
                (("spinop.io",), tuple(sorted(f"{k}/status" for k in SPINOP_KINDS)), ("patch",), ()),
                (("",), ("namespaces",), ("list", "watch"), ()),
                (("",), ("events",), ("create",), ()),
                (("apiextensions.k8s.io",), ("customresourcedefinitions",), ("list", "watch"), ()),
            ]
        ),
        ("Role", "devops", "spinop-credentials"): [
            (("",), ("secrets",), ("create", "delete", "get", "patch", "update"), ()),
        ],
        ("Role", "spinop-system", "spinop-operator"): sorted(
            [
                (("",), ("configmaps",), ("create",), ()),
                (("",), ("configmaps",), ("get", "update"), ("spinop-halyard-migration", "spinop-spinnaker-inventory")),
                (("",), ("secrets",), ("get",), ("spinop-gate-credentials",)),
            ]
        ),
    }


@pytest.mark.parametrize("render", [r for r in RENDERS if r.startswith("base")] + ["overlays/dev"])
def test_no_operator_role_uses_wildcards_or_grants_cluster_wide_secrets_exec_or_webhooks(render: str) -> None:
    objects = rendered(render)
    for role in _roles_bound_to_operator(objects):
        name = role["metadata"]["name"]
        for groups, resources, verbs, _ in _rules(role):
            assert "*" not in groups + resources + verbs, f"{render}: {name} uses '*'"
            assert not {"escalate", "bind", "impersonate"} & set(verbs), f"{render}: {name}"
        if role["kind"] == "ClusterRole":
            for resource in ("secrets", "pods", "pods/exec", "configmaps", "serviceaccounts/token"):
                assert not _grants(role, "", resource), f"{render}: ClusterRole {name} grants {resource}"
            assert not _grants(role, "admissionregistration.k8s.io", "mutatingwebhookconfigurations"), name
            # Only the self-signed webhook variant may touch a webhook configuration: get/patch on its own one.
            for _groups, resources, verbs, names in _rules(role):
                if "validatingwebhookconfigurations" in resources:
                    assert names == ("spinop.io",) and set(verbs) <= {"get", "patch"}, f"{render}: {name}"
            for kind in SPINOP_KINDS:
                assert not {"create", "update", "delete", "deletecollection"} & _grants(role, "spinop.io", kind)


def test_halyard_components_reach_only_the_halyard_pod_and_spinops_own_secrets() -> None:
    settings = OperatorConfig().halyard
    exec_role = one(rendered("base+halyard-exec"), "Role", "spinop-halyard-exec")
    assert exec_role["metadata"]["namespace"] == settings.pod_namespace
    # The exec WebSocket is a GET (verb get) that 1.35+ also authorizes as create; only on the Halyard pod.
    assert _rules(exec_role) == [(("",), ("pods/exec",), ("create", "get"), (settings.pod_name,))]
    mounted = one(rendered("base+halyard-mounted-kubeconfigs"), "Role", "spinop-halyard-kubeconfigs")
    assert mounted["metadata"]["namespace"] == settings.pod_namespace
    shards = tuple(sorted(f"{settings.mounted_secret_prefix}-{i}" for i in range(settings.mounted_shards)))
    assert sorted(_rules(mounted)) == sorted(
        [
            (("",), ("secrets",), ("create",), ()),
            (("",), ("secrets",), ("get", "patch"), shards),
        ]
    )


def test_tenant_roles_never_touch_clusters_or_status_and_edit_is_not_aggregated() -> None:
    objects = rendered("base")
    edit = one(objects, "ClusterRole", "spinop-tenant-edit")
    view = one(objects, "ClusterRole", "spinop-tenant-view")
    for role in (edit, view):
        for groups, resources, verbs, names in _rules(role):
            assert groups == ("spinop.io",)
            assert set(resources) <= set(TENANT_KINDS), f"{role['metadata']['name']} grants {resources}"
            assert "*" not in verbs and not names
            assert not any("/" in r for r in resources), "no subresource (status) for tenants"
    for kind in TENANT_KINDS:
        assert _grants(edit, "spinop.io", kind) == {"get", "list", "watch", "create", "update", "patch", "delete"}
        assert _grants(view, "spinop.io", kind) == {"get", "list", "watch"}
    assert not _grants(edit, "spinop.io", "spinnakerclusters") and not _grants(view, "spinop.io", "spinnakerclusters")
    aggregation = "rbac.authorization.k8s.io/aggregate-to-"
    assert not any(k.startswith(aggregation) for k in edit["metadata"].get("labels", {}))
    assert {k for k in view["metadata"]["labels"] if k.startswith(aggregation)} == {f"{aggregation}view"}


def test_remote_identity_has_exactly_what_spinop_does_remotely() -> None:
    objects = rendered("remote")
    account = one(objects, "ServiceAccount", "spinop")
    assert account["metadata"]["namespace"] == "spinop-system"
    assert account["automountServiceAccountToken"] is False
    binding = one(objects, "ClusterRoleBinding", "spinop-remote")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spinop", "namespace": "spinop-system"}]
    role = one(objects, "ClusterRole", binding["roleRef"]["name"])
    assert sorted(_rules(role)) == sorted(
        [
            (("",), ("namespaces",), ("create", "delete", "get", "patch"), ()),
            (("",), ("serviceaccounts",), ("create", "delete", "get", "list", "patch", "watch"), ()),
            (("",), ("serviceaccounts/token",), ("create",), ()),
            (("",), ("secrets",), ("create", "delete", "get", "list"), ()),
            (
                ("rbac.authorization.k8s.io",),
                ("roles",),
                ("bind", "create", "delete", "escalate", "get", "list", "patch", "watch"),
                (),
            ),
            (
                ("rbac.authorization.k8s.io",),
                ("rolebindings",),
                ("create", "delete", "get", "list", "patch", "watch"),
                (),
            ),
            (("",), ("limitranges", "resourcequotas"), ("create",), ()),
            (("",), ("limitranges", "resourcequotas"), ("delete", "get", "patch"), ("spinop-guardrails",)),
            (("networking.k8s.io",), ("networkpolicies",), ("create",), ()),
            (("networking.k8s.io",), ("networkpolicies",), ("delete", "get", "patch"), ("spinop-guardrails",)),
            (
                ("admissionregistration.k8s.io",),
                ("validatingadmissionpolicies", "validatingadmissionpolicybindings"),
                ("get",),
                ("spinop-remote-limits", "spinop-tenant-limits"),
            ),
        ]
    )
    assert not find(objects, "Role") and not find(objects, "RoleBinding")
    # The guardrails apply to exactly that identity, and are enforced (Deny), not only audited.
    policy = one(objects, "ValidatingAdmissionPolicy", "spinop-remote-limits")
    username = "system:serviceaccount:spinop-system:spinop"
    assert [c["expression"] for c in policy["spec"]["matchConditions"]] == [
        f"request.userInfo.username == '{username}'"
    ]
    assert policy["spec"]["failurePolicy"] == "Fail"
    guarded = {r for rule in policy["spec"]["matchConstraints"]["resourceRules"] for r in rule["resources"]}
    # Every kind spinop may write remotely is guarded.
    writable = {
        resource
        for _, resources, verbs, _ in _rules(role)
        if set(verbs) & {"create", "patch", "update", "delete"}
        for resource in resources
    }
    assert guarded == writable
    policy_binding = one(objects, "ValidatingAdmissionPolicyBinding", "spinop-remote-limits")
    assert policy_binding["spec"] == {"policyName": "spinop-remote-limits", "validationActions": ["Deny"]}


def test_tenant_limits_apply_to_everyone_and_are_enforced() -> None:
    objects = rendered("remote")
    policy = one(objects, "ValidatingAdmissionPolicy", "spinop-tenant-limits")
    # No matchConditions: the limits hold whoever sends the request (a Deployment's Pods come from the
    # controller-manager, not the tenant).
    assert "matchConditions" not in policy["spec"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    guarded = {r for rule in policy["spec"]["matchConstraints"]["resourceRules"] for r in rule["resources"]}
    assert {"secrets", "pods", "services", "deployments", "jobs", "cronjobs"} <= guarded
    policy_binding = one(objects, "ValidatingAdmissionPolicyBinding", "spinop-tenant-limits")
    assert policy_binding["spec"] == {"policyName": "spinop-tenant-limits", "validationActions": ["Deny"]}


def test_the_token_request_only_identity_is_deploy_remote_without_any_secret_access() -> None:
    full, narrow = rendered("remote"), rendered("overlays/remote-token-request-only")
    full_rules = _rules(one(full, "ClusterRole", "spinop-remote"))
    narrow_rules = _rules(one(narrow, "ClusterRole", "spinop-remote"))
    assert [r for r in full_rules if r not in narrow_rules] == [
        (("",), ("secrets",), ("create", "delete", "get", "list"), ())
    ]
    assert all("secrets" not in resources and "*" not in resources for _, resources, _, _ in narrow_rules)
    # Everything else, admission policies included, is deploy/remote unchanged.
    assert [o for o in narrow if o["kind"] != "ClusterRole"] == [o for o in full if o["kind"] != "ClusterRole"]


def test_the_admin_kubeconfig_script_is_executable_and_parses() -> None:
    script = DEPLOY / "remote" / "admin-kubeconfig.sh"
    assert os.access(script, os.X_OK)
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


# -------------------------------------------------------------------------------------------- service and network


def test_service_and_network_policy_select_the_operator_pod_and_only_its_ports() -> None:
    objects = rendered("base")
    pod = one(objects, "Deployment", "spinop")["spec"]["template"]
    labels = pod["metadata"]["labels"]
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    service = one(objects, "Service", "spinop-webhook")
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["webhook"]
    policy = one(objects, "NetworkPolicy", "spinop")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"metrics"} and ingress_ports <= ports  # the webhook port: only the webhook components
    assert "webhook" in ports
    for rule in policy["spec"]["egress"]:
        assert rule.get("ports"), "every egress rule names its ports"


def test_the_webhook_configuration_points_at_the_service_for_all_three_kinds() -> None:
    objects = rendered("base+webhook-cert-manager")
    config = one(objects, "ValidatingWebhookConfiguration", "spinop.io")
    service = one(objects, "Service", "spinop-webhook")
    certificate = one(objects, "Certificate", "spinop-webhook")
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "spinop-system/spinop-webhook"
    assert f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc" in certificate["spec"]["dnsNames"]
    kinds = set()
    for webhook in config["webhooks"]:
        client = webhook["clientConfig"]["service"]
        assert (client["name"], client["namespace"], client["port"]) == ("spinop-webhook", "spinop-system", 443)
        assert "url" not in webhook["clientConfig"]
        assert webhook["sideEffects"] == "None"
        for rule in webhook["rules"]:
            assert rule["apiGroups"] == ["spinop.io"] and set(rule["operations"]) <= {"CREATE", "UPDATE"}
            kinds.update(rule["resources"])
    assert kinds == set(SPINOP_KINDS)
    pod = one(objects, "Deployment", "spinop")["spec"]["template"]["spec"]
    secret_volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert list(secret_volumes.values()) == [certificate["spec"]["secretName"]]
    # The operator serves the webhook from that certificate (OperatorConfig.admission, static mode).
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    admission = OperatorConfig.load({k: v for k, v in env.items() if k.startswith("SPINOP_ADMISSION__")}).admission
    assert admission.enabled and not admission.managed and admission.address == "0.0.0.0"  # noqa: S104 (a Pod)
    port = next(
        p["containerPort"] for p in container["ports"] if p["name"] == service["spec"]["ports"][0]["targetPort"]
    )
    assert admission.port == port
    mount = next(m for m in container["volumeMounts"] if m["name"] in secret_volumes)
    assert {admission.cert_file, admission.key_file} == {
        f"{mount['mountPath']}/tls.crt",
        f"{mount['mountPath']}/tls.key",
    }
    # spinop does not manage the configuration, so it holds no RBAC on webhook configurations.
    for role in _roles_bound_to_operator(objects):
        assert not _grants(role, "admissionregistration.k8s.io", "validatingwebhookconfigurations")


@pytest.mark.parametrize(
    "render", ["base", "base+webhook-cert-manager", "base+webhook-self-signed", "base+all-components"]
)
def test_only_the_apiserver_cidr_may_reach_the_webhook_port(render: str) -> None:
    """NetworkPolicies add up: no rule in any rendered policy opens 9443 to every source or to Pods; the webhook
    components open it to an ipBlock only (the control plane's CIDR, shipped as a TEST-NET placeholder)."""
    objects = rendered(render)
    pod = one(objects, "Deployment", "spinop")["spec"]["template"]
    webhook_port = next(p for p in pod["spec"]["containers"][0]["ports"] if p["name"] == "webhook")["containerPort"]
    opened: list[str] = []
    for policy in find(objects, "NetworkPolicy"):
        if not policy["spec"]["podSelector"].get("matchLabels", {}).items() <= pod["metadata"]["labels"].items():
            continue
        for rule in policy["spec"].get("ingress") or []:
            rule_ports = [p.get("port") for p in rule.get("ports") or []]
            if rule_ports and not {"webhook", webhook_port} & set(rule_ports):
                continue
            assert rule.get("from"), f"{render}: {policy['metadata']['name']} opens the webhook port to everyone"
            assert all(set(peer) == {"ipBlock"} for peer in rule["from"]), f"{render}: {rule}"
            opened.extend(peer["ipBlock"]["cidr"] for peer in rule["from"])
    assert opened == ([] if render == "base" else ["192.0.2.0/24"]), render


def test_the_self_signed_webhook_publishes_its_ca_into_its_own_configuration_only() -> None:
    objects = rendered("base+webhook-self-signed")
    config = one(objects, "ValidatingWebhookConfiguration", "spinop.io")
    service = one(objects, "Service", "spinop-webhook")
    assert "cert-manager.io/inject-ca-from" not in (config["metadata"].get("annotations") or {})
    assert not find(objects, "Certificate")
    container = one(objects, "Deployment", "spinop")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    admission = OperatorConfig.load({k: v for k, v in env.items() if k.startswith("SPINOP_ADMISSION__")}).admission
    assert admission.enabled and not admission.managed and not admission.cert_file
    assert admission.ca_bundle_for == config["metadata"]["name"]
    assert admission.host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    grants = [
        (verbs, names)
        for role in _roles_bound_to_operator(objects)
        for _, resources, verbs, names in _rules(role)
        if "validatingwebhookconfigurations" in resources
    ]
    assert grants == [(("get", "patch"), ("spinop.io",))]
