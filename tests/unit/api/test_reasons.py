"""Every condition reason the code can set is classified once (api/reasons.py) and has its row in
docs/troubleshooting.md with the same kstatus verdict; the demo explains exactly the needs-a-person ones."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from spinop.api.reasons import HEALTHY, NEEDS_A_PERSON, PROGRESS, WARNINGS
from spinop.commands import demo

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "operator" / "spinop"
CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+$")
TABLE_HEADING = "## Every reason: progress or needs a person"

#: CamelCase strings of the package that are not condition reasons: condition types, Event reasons, Kubernetes kinds
#: and values of other APIs.
NOT_REASONS = frozenset(
    {
        # condition types
        "RemoteProvisioned",
        "CredentialsIssued",
        "PermissionsVerified",
        "SpinnakerSynced",
        "GuardrailsApplied",
        "AdmissionPoliciesInstalled",
        "CredentialsTooPowerful",
        # Event reasons (never a condition)
        "ApplicationCreated",
        "CredentialsRotated",
        "DriftDetected",
        "DriftRepaired",
        "DriftRestored",
        "NamespaceKept",
        "OldCredentialsRevoked",
        "PipelineAdopted",
        "PipelineCreated",
        "PipelineDeleted",
        "PipelineKept",
        "PipelineUpdated",
        "RemoteCleanupSkipped",
        # admission answers (the object is never stored)
        "AdmissionUnavailable",
        # Kubernetes kinds and API values
        "LimitRange",
        "NetworkPolicy",
        "ResourceQuota",
        "RoleBinding",
        "ServiceAccount",
        "TokenRequest",
        "ServiceAccountTokenSecret",
        "CustomResource",
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicy",
        "RuntimeDefault",
        "DoesNotExist",
        "NotIn",
        "ExitCode",
        "NonZeroExitCode",
        "BearerToken",
    }
)
#: Files whose CamelCase strings are all Kubernetes kinds (the pipeline guard's lists) or a command's output.
NOT_REASON_FILES = ("pipelines/guard.py", "commands/demo.py", "cli.py", "devcluster/")


def code_strings() -> dict[str, str]:
    """CamelCase string literals of the package (outside classes' and exports' names), with a file using each."""
    found: dict[str, str] = {}
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names.add(node.name)
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and CAMEL.match(node.value)
                and not relative.startswith(NOT_REASON_FILES)
            ):
                found.setdefault(node.value, relative)
    # Names of classes and aliases (and the `__all__` lists re-exporting them) are not reasons, unless classified.
    classified = PROGRESS | NEEDS_A_PERSON | HEALTHY | WARNINGS
    return {s: f for s, f in found.items() if s in classified or s not in names}


def table() -> dict[str, str]:
    """reason -> kstatus column of the one table in docs/troubleshooting.md."""
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    section = text[text.index(TABLE_HEADING) :]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        match = re.match(r"^\| `([A-Za-z]+)` \| [^|]+ \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_classes_do_not_overlap() -> None:
    groups = [PROGRESS, NEEDS_A_PERSON, HEALTHY, WARNINGS]
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:
            assert not a & b


def test_every_reason_the_code_can_set_is_classified() -> None:
    classified = PROGRESS | NEEDS_A_PERSON | HEALTHY | WARNINGS
    unknown = {s: f for s, f in code_strings().items() if s not in classified and s not in NOT_REASONS}
    assert not unknown, (
        "condition reasons set by the code but not classified in operator/spinop/api/reasons.py "
        f"(progress or needs a person?), nor listed as not a reason here: {unknown}"
    )


def test_every_classified_reason_has_its_row_with_its_kstatus() -> None:
    rows = table()
    expected = {
        **{r: "InProgress (`Reconciling`)" for r in PROGRESS},
        **{r: "Failed (`Stalled`)" for r in NEEDS_A_PERSON},
        **{r: "Current" for r in HEALTHY},
        **{r: "none: a warning outside Ready" for r in WARNINGS},
    }
    missing = sorted(set(expected) - set(rows))
    extra = sorted(set(rows) - set(expected))
    wrong = {r: (rows[r], want) for r, want in expected.items() if r in rows and rows[r] != want}
    assert not missing and not extra and not wrong, {"missing": missing, "extra": extra, "misclassified": wrong}


def test_pipeline_waiting_for_its_account_is_progress_not_refusal() -> None:
    assert "WaitingForAccount" in PROGRESS
    assert "WaitingForAccount" in code_strings()


def test_demo_explains_exactly_the_reasons_that_need_a_person() -> None:
    assert demo.NEEDS_A_PERSON is NEEDS_A_PERSON
