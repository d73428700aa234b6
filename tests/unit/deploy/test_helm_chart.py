"""deploy/helm/spinop renders exactly what kustomize renders, for every variant the chart's values select.

Each directory under helm_variants/ is one variant: a kustomization (deploy/base plus the components, and the
ConfigMap patch a component's comment asks for) and the chart values meant to select the same install. The real
`helm` (built from tools/helm, pinned) renders the chart, the real `kubectl kustomize` the overlay, and the two must
give the same objects field for field. Two differences are allowed, both on purpose:

- the chart's Namespaces carry `helm.sh/resource-policy: keep` (`helm uninstall` must not delete the credentials
  namespace and every Secret in it);
- the chart's crds/ always holds kopf's ClusterKopfPeering CRD (helm cannot install a peering object in the release
  that templates its CRD, and crds/ cannot be conditional).

config.yaml is compared as the OperatorConfig it parses to: the chart writes every Halyard setting, the kustomize
ConfigMap only those that differ from the defaults. The server-side dry-run and a real install are in
tests/integration/test_helm_chart.py.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from spinop.api import crdgen
from spinop.config import OperatorConfig
from spinop.devcluster.build import ensure_helm, pinned_version
from spinop.devcluster.paths import build_dir, project_root

ROOT = project_root()
CHART = ROOT / "deploy" / "helm" / "spinop"
VARIANTS_DIR = Path(__file__).parent / "helm_variants"
VARIANTS = sorted(p.name for p in VARIANTS_DIR.iterdir() if (p / "kustomization.yaml").is_file())
KUBERNETES_VERSION = pinned_version(ROOT / "tools" / "controlplane" / "kubernetes", "k8s.io/kubernetes")
KEEP = {"helm.sh/resource-policy": "keep"}
PEERING_CRD = "clusterkopfpeerings.kopf.dev"

Obj = dict[str, Any]
Key = tuple[str, str, str, str]


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm()


def _kubectl() -> Path:
    path = build_dir() / "bin" / f"kubernetes-{KUBERNETES_VERSION}" / "kubectl"
    if not path.is_file():
        pytest.skip(f"kubectl {KUBERNETES_VERSION} is not built yet: run `spinop dev build` (make test does)")
    return path


def _run(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def helm_template(helm: Path, *values_args: str) -> list[Obj]:
    """`helm template` of the chart (CRDs included), as the objects it would install."""
    out = _run(
        [str(helm), "template", "spinop", str(CHART), "--namespace", "spinop-system", "--include-crds", *values_args]
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]


def kustomize(directory: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(_run([str(_kubectl()), "kustomize", str(directory)])) if doc]


def key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


def keyed(objects: list[Obj]) -> dict[Key, Obj]:
    out = {key(obj): obj for obj in objects}
    assert len(out) == len(objects), "duplicate objects in a rendering"
    return out


def effective_config(config_map: Obj) -> Obj:
    """spinop-config with config.yaml replaced by the settings the operator would run with."""
    config_map = copy.deepcopy(config_map)
    text = config_map["data"]["config.yaml"]
    config_map["data"]["config.yaml"] = OperatorConfig.model_validate(yaml.safe_load(text)).model_dump()
    return config_map


def without_keep(namespace: Obj) -> Obj:
    namespace = copy.deepcopy(namespace)
    annotations = namespace["metadata"].pop("annotations", {})
    assert annotations == KEEP, f"Namespace {namespace['metadata']['name']}: {annotations}"
    return namespace


def comparable(obj: Obj) -> Obj:
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "spinop-config":
        return effective_config(obj)
    return obj


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_chart_renders_what_kustomize_renders(helm: Path, variant: str) -> None:
    directory = VARIANTS_DIR / variant
    expected = keyed(kustomize(directory))
    chart = keyed(helm_template(helm, "--values", str(directory / "values.yaml")))

    chart = {k: without_keep(o) if o["kind"] == "Namespace" else o for k, o in chart.items()}
    peering_crd = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", PEERING_CRD)
    assert peering_crd in chart, "the chart's crds/ must carry kopf's peering CRD"
    expected.setdefault(peering_crd, chart[peering_crd])

    assert sorted(chart) == sorted(expected), (
        f"only in the chart: {sorted(set(chart) - set(expected))}; "
        f"only in kustomize: {sorted(set(expected) - set(chart))}"
    )
    for object_key, obj in expected.items():
        assert comparable(chart[object_key]) == comparable(obj), f"{variant}: {object_key} differs"


def test_the_peering_crd_in_the_chart_is_the_peering_components(helm: Path) -> None:
    peering = keyed(kustomize(VARIANTS_DIR / "peering"))
    chart = keyed(helm_template(helm))
    crd_key = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", PEERING_CRD)
    assert chart[crd_key] == peering[crd_key]


def test_the_charts_crds_are_the_generated_ones() -> None:
    """`spinop crds` writes them (and `spinop crds --check`, run by make test, fails when they are stale)."""
    assert crdgen.stale_crds(crdgen.chart_crd_dir(), crdgen.chart_crds()) == []
    on_disk = sorted(p.name for p in crdgen.chart_crd_dir().glob("*.yaml"))
    assert on_disk == sorted(crdgen.chart_crds()), "a CRD file in the chart that `spinop crds` does not write"


def test_a_stale_chart_crd_is_reported(tmp_path: Path) -> None:
    crdgen.write_crds(tmp_path, crdgen.chart_crds())
    assert crdgen.stale_crds(tmp_path, crdgen.chart_crds()) == []
    (tmp_path / "clusterkopfpeerings.yaml").write_text("stale\n")
    assert crdgen.stale_crds(tmp_path, crdgen.chart_crds()) == [tmp_path / "clusterkopfpeerings.yaml"]


def test_the_app_version_is_the_image_tag_deploy_base_uses() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deployment = next(
        doc
        for doc in yaml.safe_load_all((ROOT / "deploy" / "base" / "deployment.yaml").read_text())
        if doc["kind"] == "Deployment"
    )
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"spinop:{chart['appVersion']}"


def _image(objects: list[Obj]) -> str:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def test_image_by_tag_or_digest(helm: Path) -> None:
    digest = "sha256:" + "ab" * 32
    assert _image(helm_template(helm, "--set", "image.tag=1.2.3")) == "spinop:1.2.3"
    assert _image(helm_template(helm, "--set", f"image.digest={digest}")) == f"spinop@{digest}"


def test_gate_auth_secret_is_the_one_secret_the_operator_role_may_read(helm: Path) -> None:
    objects = helm_template(helm, "--set", "spinnaker.gate.authSecret=gate-creds")
    role = next(o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "spinop-operator")
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert secret_rules == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["gate-creds"], "verbs": ["get"]}
    ]
    config_map = next(o for o in objects if o["kind"] == "ConfigMap")
    assert yaml.safe_load(config_map["data"]["config.yaml"])["gate"]["auth_secret"] == "gate-creds"


def test_mounted_shards_follow_the_values(helm: Path) -> None:
    objects = helm_template(
        helm,
        "--set",
        "spinnaker.halyard.kubeconfigDelivery=mounted",
        "--set",
        "spinnaker.halyard.mountedShards=3",
        "--set",
        "spinnaker.halyard.mountedSecretPrefix=kc",
    )
    role = next(o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "spinop-halyard-kubeconfigs")
    assert role["rules"][1]["resourceNames"] == ["kc-0", "kc-1", "kc-2"]
    config = yaml.safe_load(next(o for o in objects if o["kind"] == "ConfigMap")["data"]["config.yaml"])
    assert OperatorConfig.model_validate(config).halyard.mounted_shards == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("webhook.mode=on", "/webhook/mode"),
        ("spinnaker.backend=accounts-api", "/spinnaker/backend"),
        ("spinnaker.halyard.transport=ssh", "/spinnaker/halyard/transport"),
        ("spinnaker.halyrd.url=http://x", "halyrd"),
        ("config.halyard.url=http://x", "halyard"),
        ("image.digest=sha256:abc", "/image/digest"),
        ("peering.replicas=0", "/peering/replicas"),
        ("namespaces.credentials=Dev_Ops", "/namespaces/credentials"),
    ],
)
def test_wrong_values_fail_at_render(helm: Path, value: str, message: str) -> None:
    result = subprocess.run(
        [str(helm), "template", "spinop", str(CHART), "--set", value],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, f"{value} was accepted"
    assert "schema" in result.stderr and message in result.stderr, result.stderr
