"""The pipeline tenant guard at admission: the checks that need only the object, the tenant's own
SpinnakerAccounts and the SpinnakerClusters' `tenancy.pipelines` grants (no operator index).

Registered as a `spinop.admission.pipelines` validator by `spinop.handlers.admission.register`. It renders the
body exactly as the reconcile does (`pipelines.render.render_pipeline`) and runs the same guard
(`pipelines.guard.check_pipeline`) with a scope at least as wide as any the reconcile can use: every account of the
namespace counts as if it were Ready (the reconcile waits for pending ones instead of refusing), the grants of
all their clusters count, and the application under review counts as owned (who claimed it first is the
webhook's `ApplicationNotOwned` check and the reconcile's). So whatever this refuses, the reconcile refuses too,
at the same paths; what it admits the reconcile may still refuse (an account that never becomes Ready).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import kubernetes.client as k8s
from kubernetes.client import ApiClient

from spinop import GROUP, VERSION, tenancy
from spinop.admission.observe import Budget, _pages
from spinop.admission.pipelines import PipelineReview
from spinop.api.errors import FieldError
from spinop.api.v1alpha1 import SpinnakerPipeline
from spinop.config import PipelineSettings
from spinop.controllers import accounts, clusters
from spinop.pipelines.guard import check_pipeline
from spinop.pipelines.ids import pipeline_id
from spinop.pipelines.render import RenderRefused, render_pipeline
from spinop.pipelines.scope import tenant_scope


def _read(api: ApiClient, namespace: str) -> tuple[list[dict[str, Any]], dict[str, Mapping[str, Any]]]:
    """The namespace's SpinnakerAccounts and every SpinnakerCluster's spec (blocking: run it in a thread)."""
    budget = Budget()
    custom = k8s.CustomObjectsApi(api)
    own = _pages(custom.list_namespaced_custom_object, budget, GROUP, VERSION, namespace, accounts.PLURAL)
    listed = _pages(custom.list_cluster_custom_object, budget, GROUP, VERSION, clusters.PLURAL)
    return own, {item["metadata"]["name"]: item.get("spec") or {} for item in listed}


async def tenant_guard(review: PipelineReview) -> list[FieldError]:
    own, cluster_specs = await asyncio.to_thread(_read, review.ctx.mgmt, review.pipeline.metadata.namespace or "")
    return guard_errors(review.pipeline, review.body, own, cluster_specs, review.ctx.config.pipelines)


def guard_errors(
    pipeline: SpinnakerPipeline,
    raw_body: Mapping[str, Any],
    own: Iterable[Mapping[str, Any]],
    cluster_specs: Mapping[str, Mapping[str, Any]],
    settings: PipelineSettings,
) -> list[FieldError]:
    """The guard's errors for one pipeline (pure): `own` the namespace's SpinnakerAccounts, `cluster_specs` every
    SpinnakerCluster's spec, as `_read` returns them."""
    namespace = pipeline.metadata.namespace or ""
    name = pipeline.metadata.name or ""
    claims = [dataclasses.replace(c, ready=True) for c in map(tenancy.claim_from_body, own) if c is not None]
    scope = tenant_scope(namespace, claims, [], settings, cluster_specs)
    scope = dataclasses.replace(scope, applications=scope.applications | {pipeline.spec.application})
    raw = (raw_body.get("spec") or {}).get("pipeline")
    try:
        body = render_pipeline(
            application=pipeline.spec.application,
            name=pipeline.spec.name,
            # `id` is left to the reconcile: it may keep an id from status.pipelineId, which admission cannot see.
            pipeline={k: v for k, v in raw.items() if k != "id"} if isinstance(raw, Mapping) else {},
            pipeline_id=pipeline_id(namespace, name),
            owner=f"{namespace}/{name}",
        )
    except RenderRefused as err:
        return [FieldError(v.path, v.message) for v in err.violations]
    return [FieldError(v.path, v.message) for v in check_pipeline(body, scope)]
