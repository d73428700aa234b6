"""Every reason the code can give is a `Reason` member (api/reasons.py), grouped once, with its row in
docs/troubleshooting.md and the same kstatus verdict; the demo explains exactly the needs-a-person ones; a status
built from members dumps as plain strings."""

from __future__ import annotations

import ast
import datetime
import re
from pathlib import Path

import pytest
import yaml

from spinop.api.conditions import READY, set_condition, summarize_ready, to_dicts
from spinop.api.reasons import (
    ADMISSION,
    HEALTHY,
    NEEDS_A_PERSON,
    PROGRESS,
    WARNINGS,
    EventReason,
    Reason,
    ReasonGroup,
)
from spinop.api.v1alpha1.common import CelRule
from spinop.commands import demo

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "operator" / "spinop"
CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+$")
TABLE_HEADING = "## Every reason: progress or needs a person"
CLASSIFIED = frozenset(r.value for r in Reason)
EVENT_REASONS = frozenset(e.value for e in EventReason)
EVENTS_HEADING = "## Events spinop posts"
#: The kstatus column of docs/troubleshooting.md's table for each group.
KSTATUS = {
    ReasonGroup.PROGRESS: "InProgress (`Reconciling`)",
    ReasonGroup.NEEDS_A_PERSON: "Failed (`Stalled`)",
    ReasonGroup.HEALTHY: "Current",
    ReasonGroup.WARNING: "none: a warning outside Ready",
    ReasonGroup.ADMISSION: "none: an admission answer, never stored",
}

#: CamelCase strings of the package that are not reasons: condition types, Kubernetes kinds and values of other APIs.
NOT_REASONS = frozenset(
    {
        # condition types
        "RemoteProvisioned",
        "CredentialsIssued",
        "PermissionsVerified",
        "SpinnakerSynced",
        "GuardrailsApplied",
        "AdmissionPoliciesInstalled",
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
    """CamelCase string literals of the package (outside classes' and exports' names) and the `Reason` members it
    names (`Reason.X`), with a file using each."""
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
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Reason":
                found.setdefault(node.attr, relative)
    # Names of classes and aliases (and the `__all__` lists re-exporting them) are not reasons, unless classified.
    return {s: f for s, f in found.items() if s in CLASSIFIED or s not in names}


#: call name -> (index of the positional argument that is a condition reason, fewest positional arguments then).
REASON_ARGUMENT = {
    "ConditionUpdate": (2, 3),  # (type, status, reason, message)
    "set_condition": (3, 4),  # (conditions, type, status, reason, message)
    "set": (2, 4),  # the pipeline controller's Outcome.set(type, status, reason, message)
    "ok": (1, 3),  # the account controller's Outcome.ok(type, reason, message)
    "Outcome": (1, 2),  # spinnaker.sync.Outcome(ok, reason, message)
    "BackendUnavailable": (0, 1),
    "refuse": (0, 1),  # admission
    "report": (2, 4),  # the Spinnaker sync's report(owner, status, reason, message, fields)
    "_deleting": (3, 5),
}
#: The first item of an Event tuple (type, reason, message): the reason follows it.
EVENT_TYPES = frozenset({"Normal", "Warning"})


def _call_name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _string_literals(node: ast.expr) -> list[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return [node]
    if isinstance(node, ast.IfExp):
        return _string_literals(node.body) + _string_literals(node.orelse)
    return []


def reason_literals(tree: ast.Module) -> list[ast.Constant]:
    """String literals where a reason goes: `reason=`, a class's `reason` attribute, a condition helper's reason."""
    found: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name == "to_thread" and node.args:  # asyncio.to_thread(post_event, ..., reason=...)
                name = _call_name(node.args[0])
            found += [c for k in node.keywords if k.arg == "reason" for c in _string_literals(k.value)]
            index, fewest = REASON_ARGUMENT.get(name, (-1, 0))
            if index >= 0 and len(node.args) >= fewest:
                found += _string_literals(node.args[index])
        elif (
            isinstance(node, ast.Tuple)
            and len(node.elts) == 3
            and isinstance(node.elts[0], ast.Constant)
            and node.elts[0].value in EVENT_TYPES
        ):
            found += _string_literals(node.elts[1])  # an Event: (type, reason, message)
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "reason" for t in stmt.targets
                ):
                    found += _string_literals(stmt.value)
                elif (
                    isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == "reason"
                ):
                    found += _string_literals(stmt.value) if stmt.value is not None else []
    return found


def section_lines(heading: str) -> list[str]:
    """The lines of docs/troubleshooting.md under `heading`, up to the next section."""
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    lines = []
    for line in text[text.index(heading) :].splitlines()[1:]:
        if line.startswith("## "):
            break
        lines.append(line)
    return lines


def table() -> dict[str, str]:
    """reason -> kstatus column of the one table in docs/troubleshooting.md."""
    rows = {}
    for line in section_lines(TABLE_HEADING):
        match = re.match(r"^\| `([A-Za-z]+)` \| [^|]+ \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_every_member_is_its_wire_string_and_the_groups_partition_it() -> None:
    for reason in Reason:
        assert reason.value == reason.name and reason == reason.name and f"{reason}" == reason.name
        assert isinstance(reason.group, ReasonGroup)
        assert reason.needs_a_person == (reason in NEEDS_A_PERSON)
    groups = [PROGRESS, NEEDS_A_PERSON, HEALTHY, WARNINGS, ADMISSION]
    assert sum(len(g) for g in groups) == len(Reason) and frozenset().union(*groups) == frozenset(Reason)


def test_every_reason_the_code_can_set_is_classified() -> None:
    known = CLASSIFIED | EVENT_REASONS | NOT_REASONS
    unknown = {s: f for s, f in code_strings().items() if s not in known}
    assert not unknown, (
        "reasons given by the code but not members of Reason in operator/spinop/api/reasons.py "
        f"(progress or needs a person?), nor listed as not a reason here: {unknown}"
    )


def test_every_reason_has_its_row_with_its_kstatus() -> None:
    rows = table()
    expected = {r.value: KSTATUS[r.group] for r in Reason}
    missing = sorted(set(expected) - set(rows))
    extra = sorted(set(rows) - set(expected))
    wrong = {r: (rows[r], want) for r, want in expected.items() if r in rows and rows[r] != want}
    assert not missing and not extra and not wrong, {"missing": missing, "extra": extra, "misclassified": wrong}


def test_pipeline_waiting_for_its_account_is_progress_not_refusal() -> None:
    assert Reason.WaitingForAccount in PROGRESS
    assert "WaitingForAccount" in code_strings()


def test_demo_explains_exactly_the_reasons_that_need_a_person() -> None:
    assert demo.NEEDS_A_PERSON is NEEDS_A_PERSON
    assert "ClusterNotFound" in demo.NEEDS_A_PERSON  # the demo reads reasons back from kubectl as plain strings


def test_a_status_built_from_members_dumps_as_plain_strings() -> None:
    """yaml.safe_dump refuses str subclasses: the Condition model must store a member as its plain string, so the
    status patch, `spinop plan` and the demo never carry a member."""
    now = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
    conditions = set_condition(
        [], "RemoteProvisioned", "False", Reason.ClusterNotFound, "no such cluster", observed_generation=1, now=now
    )
    conditions = summarize_ready(conditions, ["RemoteProvisioned"], generation=1, now=now)
    dumped = to_dicts(conditions)
    assert all(type(c["reason"]) is str for c in dumped)
    assert {c["type"]: c["reason"] for c in dumped} == {
        "RemoteProvisioned": "ClusterNotFound",
        READY: "ClusterNotFound",
        "Stalled": "ClusterNotFound",
    }
    assert "reason: ClusterNotFound" in yaml.safe_dump({"status": {"conditions": dumped}})
    with pytest.raises(yaml.representer.RepresenterError):
        yaml.safe_dump({"reason": Reason.ClusterNotFound})  # why the boundary matters


def test_a_cel_rule_with_a_member_renders_a_plain_string() -> None:
    schema = CelRule("self.x", "no x", field_path=".x", reason=Reason.FieldValueForbidden).to_schema()
    assert type(schema["reason"]) is str
    assert "reason: FieldValueForbidden" in yaml.safe_dump(schema)


def test_no_reason_is_a_string_literal_in_the_code() -> None:
    """Reasons are written `Reason.X`: a literal in a reason position is a typo waiting to happen, or a reason
    missing from the enum (and so from docs/troubleshooting.md and the kstatus verdict)."""
    literals = []
    for path in PACKAGE.rglob("*.py"):
        for node in reason_literals(ast.parse(path.read_text())):
            literals.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert not literals, "use a Reason member (operator/spinop/api/reasons.py) instead of: " + ", ".join(literals)


def test_the_literal_scan_finds_what_it_looks_for() -> None:
    source = """
class Failure(SpinopError):
    reason = "Broken"
raise SpinopError("m", reason="Broken")
ConditionUpdate("Ready", "False", "Broken" if x else "Other", "m")
out.ok("RemoteProvisioned", "Provisioned", "m")
post_event(api, ref, type_="Normal", reason="Repaired", message="m")
await asyncio.to_thread(post_event, api, ref, type_="Normal", reason="Kept", message="m")
out.events.append(("Warning", "Drifted", message))
ConditionUpdate("Ready", "False", Reason.Error, "m")
post_event(api, ref, type_="Normal", reason=EventReason.PipelineKept, message="m")
out.events.append(("Warning", EventReason.DriftDetected, message))
point = ("x", "y", "z")
"""
    assert sorted(str(n.value) for n in reason_literals(ast.parse(source))) == [
        "Broken",
        "Broken",
        "Broken",
        "Drifted",
        "Kept",
        "Other",
        "Provisioned",
        "Repaired",
    ]


def test_every_event_reason_has_its_row() -> None:
    """docs/troubleshooting.md lists every Event reason spinop posts, and nothing else, under its Events heading."""
    rows = {
        match.group(1) for line in section_lines(EVENTS_HEADING) if (match := re.match(r"^\| `([A-Za-z]+)` \|", line))
    }
    assert rows == EVENT_REASONS, {"missing": sorted(EVENT_REASONS - rows), "extra": sorted(rows - EVENT_REASONS)}


def test_event_reasons_are_not_condition_reasons() -> None:
    # One name, one meaning: an Event reason that were also a condition reason would read as a verdict.
    assert not EVENT_REASONS & CLASSIFIED
