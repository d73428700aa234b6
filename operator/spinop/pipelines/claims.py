"""Which Spinnaker applications a tenant (MGMT namespace) may claim with a SpinnakerPipeline: the tenancy policy,
never "whoever names it first".

An application may be claimed by a namespace when an admin grants it by name (`pipelines.grants[<namespace> or
"*"].applications`) or when it matches one of `pipelines.application_patterns` (default `{namespace}-*`) filled in
for that namespace. `*` matches one segment of a-z and 0-9 (no '-'), so the default patterns of two namespaces never
match the same name (tenant `team` gets `team-web`, never `team-a-web`, which is tenant `team-a`'s). Among the
namespaces that may claim an application, the first SpinnakerPipeline still decides (controllers.pipelines).

The webhook (`application_claim_validator`) and the reconcile (`controllers.pipelines.owns_application`) both call
`application_claim_refusal`. Refusal messages name only the asking namespace's own options, never another tenant.
"""

from __future__ import annotations

import re
from functools import lru_cache

from spinop.api.errors import FieldError
from spinop.config import PipelineSettings

WILDCARD = "[a-z0-9]+"


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
