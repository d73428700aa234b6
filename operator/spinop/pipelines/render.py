"""Build the body spinop saves through Gate from a SpinnakerPipeline's spec (pure, no I/O).

spinop decides `application`, `name` and `id`; the tenant decides everything else in `spec.pipeline`. The body
is locked in the UI (`locked` binds only Deck, see gate-pipelines.md §5) with a description naming the resource.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from spinop.api.v1alpha1 import SpinnakerPipelineSpec

from .paths import Violation

# Front50 writes these on every save; a body copied from the UI's "Show JSON" carries them, so they are dropped.
SERVER_WRITTEN_FIELDS = ("lastModified", "updateTs", "lastModifiedBy", "createTs")
APPLICATION_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]*$")
APPLICATION_NAME_MAX = 63
LOCK_PREFIX = "managed by spinop: "


class RenderRefused(ValueError):
    """The spec cannot become a pipeline body; `violations` say which fields and why."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(str(v) for v in violations))
        self.violations = violations


def application_name_problem(name: object) -> str | None:
    """Why `name` cannot be a Spinnaker application for the kubernetes provider, or None when it can."""
    if not isinstance(name, str) or not name:
        return "an application name is required"
    if len(name) > APPLICATION_NAME_MAX:
        return f"an application name has at most {APPLICATION_NAME_MAX} characters"
    if not APPLICATION_NAME_RE.match(name):
        return "an application name starts with a letter and holds only letters, digits and '-'"
    return None


def lock_for(owner: str) -> dict[str, Any]:
    """The `locked` block of a managed pipeline; `owner` is `<mgmt-namespace>/<cr-name>`."""
    return {"ui": True, "allowUnlockUi": False, "description": f"{LOCK_PREFIX}{owner}"}


def render_pipeline(
    *,
    application: str,
    name: str,
    pipeline: Mapping[str, Any],
    pipeline_id: str,
    owner: str,
    last_modified: int | None = None,
) -> dict[str, Any]:
    """The Gate body for `spec.pipeline`, with spinop's `application`, `name`, `id` and `locked`.

    `last_modified` is the `lastModified` spinop last read, sent for `staleCheck=true` saves.
    Raises RenderRefused when the spec sets `id`, `application` or `name` to something else.
    """
    violations: list[Violation] = []
    if not isinstance(pipeline, Mapping):
        raise RenderRefused([Violation("spec.pipeline", "must be an object (the Spinnaker pipeline body)")])
    problem = application_name_problem(application)
    if problem:
        violations.append(Violation("spec.application", problem))
    if not isinstance(name, str) or not name.strip():
        violations.append(Violation("spec.name", "a pipeline name is required"))
        name = ""
    name = name.strip()
    if "id" in pipeline and pipeline["id"] != pipeline_id:
        violations.append(
            Violation("spec.pipeline.id", f"remove it: spinop sets the id ({pipeline_id}) from the resource")
        )
    body_app = pipeline.get("application")
    if "application" in pipeline and not (isinstance(body_app, str) and body_app.lower() == application.lower()):
        violations.append(
            Violation("spec.pipeline.application", f"remove it: spec.application ({application}) decides")
        )
    body_name = pipeline.get("name")
    if "name" in pipeline and not (isinstance(body_name, str) and body_name.strip() == name):
        violations.append(Violation("spec.pipeline.name", f"remove it: spec.name ({name}) decides"))
    if violations:
        raise RenderRefused(violations)

    body = {k: copy.deepcopy(v) for k, v in pipeline.items() if k not in SERVER_WRITTEN_FIELDS}
    body.update({"id": pipeline_id, "application": application, "name": name, "locked": lock_for(owner)})
    if last_modified is not None:
        body["lastModified"] = last_modified
    return body


def preserve_cron_trigger_ids(body: Mapping[str, Any], live: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy the ids Front50 gave the live cron triggers onto the same triggers of `body`.

    Front50 gives a cron trigger without an id a new one on every save, which would re-register the schedule
    each time spinop re-applies an unchanged pipeline. Triggers match by position first, then by expression.
    """
    out = copy.deepcopy(dict(body))
    triggers = out.get("triggers")
    live_triggers = live.get("triggers") if live else None
    if not isinstance(triggers, list) or not isinstance(live_triggers, list):
        return out
    live_crons = [
        t
        for t in live_triggers
        if isinstance(t, dict) and str(t.get("type", "")).lower() == "cron" and isinstance(t.get("id"), str)
    ]
    used: set[str] = set()
    for i, trigger in enumerate(triggers):
        if not isinstance(trigger, dict) or str(trigger.get("type", "")).lower() != "cron" or trigger.get("id"):
            continue
        same_place = live_triggers[i] if i < len(live_triggers) else None
        candidates = [same_place, *live_crons]
        for candidate in candidates:
            if (
                isinstance(candidate, dict)
                and candidate in live_crons
                and candidate["id"] not in used
                and candidate.get("cronExpression") == trigger.get("cronExpression")
            ):
                trigger["id"] = candidate["id"]
                used.add(candidate["id"])
                break
    return out


def render_desired(
    spec: SpinnakerPipelineSpec, *, pipeline_id: str, owner: str, live: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The body spinop saves for `spec`: rendered, with `live`'s `lastModified` and cron trigger ids kept."""
    stamp = live.get("lastModified") if live else None
    body = render_pipeline(
        application=spec.application,
        name=spec.name,
        pipeline=spec.pipeline,
        pipeline_id=pipeline_id,
        owner=owner,
        last_modified=stamp if isinstance(stamp, int) else None,
    )
    return preserve_cron_trigger_ids(body, live)
