"""Which Spinnaker applications a tenant (MGMT namespace) may claim with a SpinnakerPipeline: the tenancy policy,
never "whoever names it first"; and, among the namespaces the policy allows, which one holds an application (pure).

An application may be claimed by a namespace when an admin grants it by name (`pipelines.grants[<namespace> or
"*"].applications`) or when it matches one of `pipelines.application_patterns` (default `{namespace}-*`) filled in
for that namespace. `*` matches one segment of a-z and 0-9 (no '-'), so the default patterns of two namespaces never
match the same name (tenant `team` gets `team-web`, never `team-a-web`, which is tenant `team-a`'s). Among the
namespaces that may claim an application, the first SpinnakerPipeline still decides (`application_holder`).

Application ownership: an application belongs to the MGMT namespace whose oldest SpinnakerPipeline claims it;
claims that spinop already saved into the application rank before claims that never did, so deleting a namespace's
oldest pipeline never hands its application to a namespace that was refused.

The webhook (`application_claim_validator`) and the reconcile (`owns_application`) both call
`application_claim_refusal`. Refusal messages name only the asking namespace's own options, never another tenant.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from spinop.api.conditions import raw_condition
from spinop.api.errors import FieldError
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import ApplicationSettings
from spinop.config import PipelineGrant, PipelineSettings
from spinop.errors import InvalidRequest

WILDCARD = "[a-z0-9]+"
#: Synced reasons that mean Gate showed the application is not this namespace's (such claims rank last).
#: Attribute of applications spinop creates: the MGMT namespace they were created for.
OWNER_ATTRIBUTE = "spinopNamespace"
GATE_REFUSED_REASONS = frozenset({Reason.ApplicationOwnedByAnotherNamespace, Reason.ApplicationNotManaged})


@lru_cache(maxsize=512)
def _pattern_regex(pattern: str, namespace: str) -> re.Pattern[str]:
    pieces = re.split(r"(\*)", pattern.replace("{namespace}", namespace.replace("*", "")))
    return re.compile("".join(WILDCARD if p == "*" else re.escape(p) for p in pieces))


def granted_to(settings: PipelineSettings, application: str) -> str | None:
    """The namespace an admin granted `application` to by name (not through `"*"`), if any."""
    for key, grant in sorted(settings.grants.items()):
        if key != "*" and any(a.lower() == application.lower() for a in grant.applications):
            return key
    return None


def claimable(settings: PipelineSettings, namespace: str, application: str) -> bool:
    """Whether the tenancy policy lets `namespace` claim `application` at all."""
    app = application.lower()
    for key in ("*", namespace):
        grant = settings.grants.get(key)
        if grant and any(a.replace("{namespace}", namespace).lower() == app for a in grant.applications):
            return True
    holder = granted_to(settings, application)
    if holder is not None and holder != namespace:
        return False
    return any(_pattern_regex(p, namespace).fullmatch(app) for p in settings.application_patterns)


def describe_claimable(settings: PipelineSettings, namespace: str) -> str:
    """What this namespace may name, for a refusal message (its own patterns and grants only)."""
    shown = [p.replace("{namespace}", namespace).replace("*", "<a-z0-9>") for p in settings.application_patterns]
    granted = sorted(
        {
            a.replace("{namespace}", namespace)
            for key in ("*", namespace)
            for a in (settings.grants[key].applications if key in settings.grants else ())
        }
    )
    out = "names matching " + (", ".join(shown) if shown else "no pattern")
    if granted:
        out += "; or the applications granted to it: " + ", ".join(granted)
    return out


def application_claim_refusal(settings: PipelineSettings, namespace: str, application: str) -> FieldError | None:
    """The refusal at spec.application when the policy does not let `namespace` claim `application`."""
    if claimable(settings, namespace, application):
        return None
    return FieldError(
        "spec.application",
        f"namespace {namespace} may not claim application {application!r}: it may use "
        f"{describe_claimable(settings, namespace)} (spinop's pipelines.application_patterns and pipelines.grants); "
        "choose such a name, or ask a platform admin to grant this application to the namespace",
    )


# --------------------------------------------------------------------------------------------------- index records


@dataclass(frozen=True)
class PipelineClaim:
    """What the pipeline index keeps per SpinnakerPipeline: enough to decide application ownership."""

    namespace: str
    name: str
    uid: str
    application: str
    created: str
    deleting: bool
    pipeline_id: str | None  # status.pipelineId: set only once spinop saved the pipeline in Spinnaker
    gate_refused: bool  # Gate showed the application belongs to another namespace (or to nobody in spinop)
    application_settings: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def owner(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rank(self) -> tuple[int, str, str]:
        """Lower wins: claims spinop already saved into the application first, then the oldest."""
        return (0 if self.pipeline_id else 1, self.created, self.uid)


def claim_from_body(body: Mapping[str, Any]) -> PipelineClaim | None:
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    application = spec.get("application")
    if not isinstance(application, str) or not application:
        return None
    synced = raw_condition(status, "Synced") or {}
    return PipelineClaim(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        application=application,
        created=meta.get("creationTimestamp", ""),
        deleting=bool(meta.get("deletionTimestamp")),
        pipeline_id=status.get("pipelineId") or None,
        gate_refused=synced.get("status") == "False" and synced.get("reason") in GATE_REFUSED_REASONS,
        application_settings=copy.deepcopy(spec.get("applicationSettings")) or None,
    )


# --------------------------------------------------------------------------------------------------- ownership


def grant_for(settings: PipelineSettings, namespace: str) -> PipelineGrant:
    """The admin grants for one namespace: its own entry plus `"*"`, with `{namespace}` filled in."""
    merged: dict[str, set[str]] = {name: set() for name in PipelineGrant.model_fields}
    for key in ("*", namespace):
        grant = settings.grants.get(key)
        if grant is None:
            continue
        for name in PipelineGrant.model_fields:
            merged[name].update(v.replace("{namespace}", namespace) for v in getattr(grant, name))
    return PipelineGrant(**{name: sorted(values) for name, values in merged.items()})


def application_holder(
    claims: Iterable[PipelineClaim], application: str, settings: PipelineSettings | None = None
) -> PipelineClaim | None:
    """The claim that decides who owns `application`: established before pending, then oldest; None if free.

    With `settings`, only claims of namespaces the tenancy policy lets claim it count (a squatter's claim, e.g.
    one made before the policy existed, never holds an application against its rightful namespace)."""
    candidates = [
        c
        for c in claims
        if c.application.lower() == application.lower()
        and not c.gate_refused
        and (settings is None or claimable(settings, c.namespace, c.application))
    ]
    return min(candidates, key=PipelineClaim.rank) if candidates else None


def owns_application(
    namespace: str, application: str, claims: Iterable[PipelineClaim], settings: PipelineSettings
) -> tuple[bool, str]:
    """(may this namespace write into `application`?, why not): the tenancy policy first (the same decision the
    webhook makes, `application_claim_refusal`), then, among namespaces the policy allows, the first claim."""
    refusal = application_claim_refusal(settings, namespace, application)
    if refusal is not None:
        return False, refusal.message
    if any(a.lower() == application.lower() for a in grant_for(settings, namespace).applications):
        return True, ""
    holder = application_holder(claims, application, settings)
    if holder is None or holder.namespace == namespace:
        return True, ""
    # Never name the other namespace or its object: that is another tenant's business.
    return False, (
        f"application {application!r} is already used by a SpinnakerPipeline of another namespace that claimed it "
        "first; choose another application"
    )


def creation_settings(
    namespace: str, application: str, own: ApplicationSettings | None, claims: Iterable[PipelineClaim]
) -> ApplicationSettings | None:
    """The applicationSettings an application is created with: those of the namespace's oldest SpinnakerPipeline
    for it that has any, whichever of them happens to reconcile first."""
    siblings = sorted(
        (
            c
            for c in claims
            if c.namespace == namespace and c.application.lower() == application.lower() and c.application_settings
        ),
        key=lambda c: (c.created, c.uid),
    )
    for claim in siblings:
        try:
            return ApplicationSettings.model_validate(claim.application_settings)
        except ValueError:
            continue
    return own


def application_attributes(
    application: str, namespace: str, settings: ApplicationSettings | None, pipelines: PipelineSettings
) -> dict[str, Any]:
    """The attributes of an application spinop creates for `namespace` (`settings`: from `creation_settings`)."""
    attributes: dict[str, Any] = {
        "name": application,
        "email": (settings.email if settings else None) or pipelines.default_application_email,
        "cloudProviders": "kubernetes",
        "description": f"Created by spinop for the SpinnakerPipelines of namespace {namespace}",
        OWNER_ATTRIBUTE: namespace,
    }
    if settings is not None and settings.permissions is not None:
        attributes["permissions"] = settings.permissions.model_dump(by_alias=True, exclude_none=True)
    return attributes


def existing_application_refusal(
    attributes: Mapping[str, Any], application: str, namespace: str, settings: PipelineSettings
) -> InvalidRequest | None:
    """Why `namespace` may not write into an application Gate already has: only one spinop created for this
    namespace, or one an admin granted to it, is used."""
    creator = attributes.get(OWNER_ATTRIBUTE)
    granted = grant_for(settings, namespace).applications
    if creator == namespace or any(a.lower() == application.lower() for a in granted):
        return None
    if creator:
        return InvalidRequest(
            f"spec.application: application {application!r} was created by spinop for another namespace; "
            "spinop never writes into another namespace's application",
            reason=Reason.ApplicationOwnedByAnotherNamespace,
        )
    return InvalidRequest(
        f"spec.application: application {application!r} already exists in Spinnaker and spinop did not "
        "create it, so it may belong to another team; choose another application, or ask a platform admin to "
        f"grant it to namespace {namespace} (pipelines.grants in spinop's configuration)",
        reason=Reason.ApplicationNotManaged,
    )
