"""Validating admission webhooks for SpinnakerAccount, SpinnakerCluster and SpinnakerPipeline.

Registered by `register()` at start-up, only when `admission.enabled` (kopf refuses to start with admission
handlers but no server): `kopf.on.validate` with the ids below, which are also the URL paths the install's static
ValidatingWebhookConfiguration calls (deploy/base/components/webhook-cert-manager). Each handler unpacks kwargs,
reads what it needs in a thread (`spinop.admission.observe`), asks the pure rules (`spinop.admission.rules`) and
answers: refusals as `kopf.AdmissionError` with the field path and what would be accepted, warnings for what
will not work yet. The reconcile checks the same rules again, so nothing here is the last line of defence.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from typing import Any

import kopf
import urllib3
from kubernetes.client.rest import ApiException

from spinop import GROUP, VERSION
from spinop.admission import observe, pipeline_guard, rules
from spinop.admission.pipelines import (
    PIPELINE_REFUSED,
    PipelineReview,
    pipeline_validators,
    register_pipeline_validator,
    review_pipeline,
)
from spinop.api.errors import FieldError
from spinop.api.reasons import Reason
from spinop.api.v1alpha1 import SpinnakerPipeline, validate_resource
from spinop.config import AdmissionSettings
from spinop.controllers import accounts, clusters
from spinop.controllers.context import OperatorContext
from spinop.pipelines.claims import application_claim_refusal

log = logging.getLogger("spinop")

ACCOUNT_WEBHOOK = "validate-spinnakeraccount"
CLUSTER_WEBHOOK = "validate-spinnakercluster"
PIPELINE_WEBHOOK = "validate-spinnakerpipeline"
WEBHOOK_IDS = (ACCOUNT_WEBHOOK, CLUSTER_WEBHOOK, PIPELINE_WEBHOOK)
PIPELINES = "spinnakerpipelines"

_READ_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


def _answer(verdict: rules.Verdict, warnings: list[str]) -> None:
    warnings.extend(verdict.warnings)
    if not verdict.allowed:
        raise kopf.AdmissionError(verdict.message, code=verdict.code)


def _invalid(errors: list[FieldError]) -> kopf.AdmissionError:
    return kopf.AdmissionError(rules.refuse(Reason.Invalid, errors, rules.INVALID).message, code=rules.INVALID)


def _describe(err: BaseException) -> str:
    """What went wrong, without the response body or headers an ApiException would print."""
    return f"MGMT API answered HTTP {err.status}" if isinstance(err, ApiException) else type(err).__name__


def _unreadable(what: str, ctx: OperatorContext, err: BaseException) -> rules.Verdict:
    log.warning("admission could not read MGMT to check %s: %s", what, _describe(err))
    return rules.unavailable(what, ctx.config.admission.failure_policy, _describe(err))


# kopf passes operation, new and old by keyword; the defaults only make the functions fit kopf's WebhookFn type.


def _reviewed(operation: str, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """Whether `new` needs a review at all; one the schema refuses is refused here, before anything is read."""
    if not rules.needs_review(operation, new, old):
        return False
    schema = rules.schema_errors(operation, new, old)
    if schema:
        raise _invalid(schema)
    return True


async def validate_account(
    *,
    memo: kopf.Memo,
    warnings: list[str],
    operation: str = "",
    new: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    **_: Any,
) -> None:
    if new is None or not _reviewed(operation, new, old):
        return
    ctx: OperatorContext = memo["ctx"]
    try:
        world = await asyncio.to_thread(observe.account_world, ctx.mgmt, operation, new, ctx.config.reserved_namespaces)
    except _READ_ERRORS as err:
        _answer(_unreadable("the tenancy rules", ctx, err), warnings)
        return
    _answer(
        rules.decide_account(
            operation,
            new,
            old,
            world,
            reserved=ctx.config.reserved_namespaces,
            max_accounts_on_missing_clusters=ctx.config.max_accounts_on_missing_clusters,
        ),
        warnings,
    )


async def validate_cluster(
    *,
    name: str,
    memo: kopf.Memo,
    warnings: list[str],
    operation: str = "",
    new: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    **_: Any,
) -> None:
    if new is None or not _reviewed(operation, new, old):
        return
    ctx: OperatorContext = memo["ctx"]
    try:
        world = await asyncio.to_thread(
            observe.cluster_world,
            ctx.mgmt,
            name,
            new,
            credentials_namespace=ctx.config.credentials_namespace,
            rejudge_accounts=operation == rules.UPDATE and rules.tenancy_changed(new, old),
        )
    except _READ_ERRORS as err:
        # Nothing here refuses a cluster, so a read failure only costs the warnings.
        log.warning("admission could not read MGMT for SpinnakerCluster %s's warnings: %s", name, _describe(err))
        world = rules.ClusterWorld()
    _answer(
        rules.decide_cluster(operation, name, new, old, world, reserved=ctx.config.reserved_namespaces),
        warnings,
    )


async def validate_pipeline(
    *,
    memo: kopf.Memo,
    warnings: list[str],
    dryrun: bool,
    operation: str = "",
    new: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    **_: Any,
) -> None:
    if new is None or not rules.needs_review(operation, new, old):
        return
    _answer(rules.decide_pipeline_schema(operation, new, old), warnings)
    pipeline, _errors = validate_resource(new)
    assert isinstance(pipeline, SpinnakerPipeline)
    # The same tenancy decision the reconcile makes (pipelines.claims.owns_application).
    claim = application_claim_refusal(
        memo["ctx"].config.pipelines, pipeline.metadata.namespace or "", pipeline.spec.application
    )
    if claim is not None:
        _answer(rules.refuse(Reason.ApplicationNotOwned, [claim], rules.FORBIDDEN), warnings)
    if not pipeline_validators():
        return
    previous = validate_resource(old)[0] if old is not None else None
    review = PipelineReview(
        operation=operation,
        pipeline=pipeline,
        old=previous if isinstance(previous, SpinnakerPipeline) else None,
        body=new,
        ctx=memo["ctx"],
        dry_run=dryrun,
    )
    try:
        errors = await review_pipeline(review)
    except Exception as err:  # a validator's bug must not turn into a refusal nobody can explain
        log.exception("a SpinnakerPipeline admission validator failed")
        policy = review.ctx.config.admission.failure_policy
        _answer(rules.unavailable("the pipeline tenant guard", policy, type(err).__name__), warnings)
        return
    if errors:
        _answer(rules.refuse(PIPELINE_REFUSED, errors, rules.FORBIDDEN), warnings)


class RefusalsAreNotErrors(logging.Filter):
    """kopf logs every AdmissionError as an ERROR ("Webhook '<id>' failed permanently: ..."); for spinop's webhooks
    a refusal is the webhook doing its job, so it is logged at INFO (alerts on operator errors stay meaningful)."""

    PREFIXES = tuple(f"Webhook {webhook_id!r} failed permanently: " for webhook_id in WEBHOOK_IDS)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and isinstance(record.msg, str) and record.msg.startswith(self.PREFIXES):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


_registered: weakref.WeakSet[kopf.OperatorRegistry] = weakref.WeakSet()


def register(settings: AdmissionSettings, registry: kopf.OperatorRegistry | None = None) -> None:
    """Register the three webhooks (idempotent: kopf retries start-up handlers).

    failurePolicy follows `settings.failure_policy` in a managed configuration. Fail-closed webhooks are also
    `persistent`: kopf leaves them in the configuration when the operator stops, so stopping spinop does not
    quietly open the gate; fail-open ones are removed, sparing the apiserver calls to an endpoint that is gone.
    """
    registry = registry if registry is not None else kopf.get_default_registry()
    if registry in _registered:
        return
    kopf_objects = logging.getLogger("kopf.objects")
    if not any(isinstance(f, RefusalsAreNotErrors) for f in kopf_objects.filters):
        kopf_objects.addFilter(RefusalsAreNotErrors())
    _registered.add(registry)
    register_pipeline_validator(pipeline_guard.tenant_guard)  # the guard's index-free checks (spec.pipeline)
    fail_closed = settings.failure_policy == "Fail"
    for plural, webhook_id, fn in (
        (accounts.PLURAL, ACCOUNT_WEBHOOK, validate_account),
        (clusters.PLURAL, CLUSTER_WEBHOOK, validate_cluster),
        (PIPELINES, PIPELINE_WEBHOOK, validate_pipeline),
    ):
        kopf.on.validate(
            GROUP,
            VERSION,
            plural,
            id=webhook_id,
            operations=["CREATE", "UPDATE"],
            side_effects=False,
            ignore_failures=not fail_closed,
            persistent=fail_closed,
            registry=registry,
        )(fn)
