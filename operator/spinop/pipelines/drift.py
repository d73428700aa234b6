"""Is the live pipeline still what the resource says? (pure, no I/O)

Both sides are normalized before comparing, so that what Front50/Orca add on save (ids, index, timestamps, cron
trigger ids, the managed service account) and what Deck fills in with defaults never count as drift
(gate-pipelines.md §1, §4 pain point 5, §6). What is left is a real edit, reported by JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .paths import PathPart, format_path

SERVER_FIELDS = frozenset({"id", "index", "updateTs", "lastModified", "lastModifiedBy", "createTs"})
MANAGED_ACCOUNT_SUFFIX = "@managed-service-account"

# Values Deck writes for a new pipeline / stage / parameter that mean the same as leaving the key out.
PIPELINE_DEFAULTS: Mapping[str, Any] = {
    "keepWaitingPipelines": False,
    "limitConcurrent": True,
    "spelEvaluator": "v4",
    "disabled": False,
}
STAGE_DEFAULTS: Mapping[str, Any] = {
    "failPipeline": True,
    "continuePipeline": False,
    "completeOtherBranchesThenFail": False,
    "failOnFailedExpressions": False,
    "restrictExecutionDuringTimeWindow": False,
    "sendNotifications": False,
    "skipExpressionEvaluation": False,
}
MANIFEST_STAGE_DEFAULTS: Mapping[str, Any] = {"cloudProvider": "kubernetes", "source": "text"}
PARAMETER_DEFAULTS: Mapping[str, Any] = {
    "hasOptions": False,
    "pinned": False,
    "required": False,
    "options": [{}],  # Deck's placeholder [{"value": ""}] once empty values are pruned
}
NOTIFICATION_DEFAULTS: Mapping[str, Any] = {"level": "pipeline"}


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _prune(value: Any) -> Any:
    """Drop keys whose value is empty (None, "", [], {}) at every depth: Deck and the API treat them as unset."""
    if isinstance(value, Mapping):
        pruned = {str(k): _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if not _is_empty(v)}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _drop_defaults(node: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    for key, default in defaults.items():
        if key in node and node[key] == default:
            del node[key]


def _managed(value: Any) -> bool:
    return isinstance(value, str) and value.endswith(MANAGED_ACCOUNT_SUFFIX)


def normalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pipeline config without server-written fields and Deck defaults, ready to compare."""
    out: dict[str, Any] = {k: v for k, v in _prune(config).items() if k not in SERVER_FIELDS}
    application = str(config.get("application", "")).lower()
    if _managed(out.get("serviceAccount")):
        del out["serviceAccount"]
    _drop_defaults(out, PIPELINE_DEFAULTS)

    triggers = out.get("triggers")
    if isinstance(triggers, list):
        for trigger in triggers:
            if not isinstance(trigger, dict):
                continue
            if str(trigger.get("type", "")).lower() == "cron":
                trigger.pop("id", None)
            if _managed(trigger.get("runAsUser")):
                del trigger["runAsUser"]

    stages = out.get("stages")
    if isinstance(stages, list):
        for stage in stages:
            if not isinstance(stage, dict):
                continue
            if "refId" in stage and not isinstance(stage["refId"], bool):
                stage["refId"] = str(stage["refId"])
            requisites = stage.get("requisiteStageRefIds")
            if isinstance(requisites, list):
                stage["requisiteStageRefIds"] = [str(r) for r in requisites]
            _drop_defaults(stage, STAGE_DEFAULTS)
            if str(stage.get("type", "")).endswith("Manifest"):
                _drop_defaults(stage, MANIFEST_STAGE_DEFAULTS)
            moniker = stage.get("moniker")
            if isinstance(moniker, dict) and set(moniker) == {"app"} and str(moniker["app"]).lower() == application:
                del stage["moniker"]
            traffic = stage.get("trafficManagement")
            if isinstance(traffic, dict) and traffic.get("enabled") is False:
                del stage["trafficManagement"]

    for key, defaults in (("parameterConfig", PARAMETER_DEFAULTS), ("notifications", NOTIFICATION_DEFAULTS)):
        entries = out.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict):
                    _drop_defaults(entry, defaults)
    return _prune(out)


def _diff(desired: Any, live: Any, path: tuple[PathPart, ...], out: list[str]) -> None:
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        for key in sorted(set(desired) | set(live)):
            if key not in desired or key not in live:
                out.append(format_path((*path, key)))
            else:
                _diff(desired[key], live[key], (*path, key), out)
    elif isinstance(desired, list) and isinstance(live, list):
        for i in range(max(len(desired), len(live))):
            if i >= len(desired) or i >= len(live):
                out.append(format_path((*path, i)))
            else:
                _diff(desired[i], live[i], (*path, i), out)
    elif desired != live or type(desired) is not type(live):
        out.append(format_path(path) or "$")


def compare(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """JSON paths where the live config differs from the desired body (empty list: in sync)."""
    out: list[str] = []
    _diff(normalize(desired), normalize(live), (), out)
    return out


def foreign_editor(live: Mapping[str, Any], operator_principal: str) -> str | None:
    """Who last saved the live pipeline, when it was not spinop's principal (a UI or API edit)."""
    who = live.get("lastModifiedBy")
    return who if isinstance(who, str) and who and who != operator_principal else None
