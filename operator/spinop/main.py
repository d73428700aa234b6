"""The operator: kopf settings and start-up. Handlers live in `spinop.handlers.*` (imported here to register them);
they only unpack kwargs and call a controller."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import json
import logging
import sys
import threading
from typing import Any, cast

import kopf

from spinop import GROUP, KOPF_PREFIX, metrics
from spinop.admission import server as admission_server
from spinop.api.labels import DIGEST_KEY
from spinop.config import OperatorConfig
from spinop.controllers import accounts
from spinop.controllers.context import OperatorContext
from spinop.gate.factory import build_gate
from spinop.handlers import accounts as _account_handlers  # noqa: F401  (registers handlers)
from spinop.handlers import admission as admission_handlers
from spinop.handlers import clusters as _cluster_handlers  # noqa: F401
from spinop.handlers import indexes as _indexes  # noqa: F401
from spinop.handlers import pipelines as _pipeline_handlers  # noqa: F401
from spinop.kube.clients import mgmt_client
from spinop.remote.cluster import RemoteClusters
from spinop.remote.watch import RemoteWatches
from spinop.spinnaker.factory import build_sync

log = logging.getLogger("spinop")

#: The apiserver stores objects nested up to 10,000 levels (Go's encoding/json maxNestingDepth), but Python's json
#: decoder, repr, copy.deepcopy (two frames a level) and kopf's diff recurse per level under a limit of 1,000. Below
#: this, one tenant's deep object raises RecursionError in kopf's watch stream: the watcher fails, then kopf's root
#: task, and the whole operator stops; a restart meets the same object in its first list, so nothing reconciles and no
#: token is renewed (seen with kopf 1.45.2). Python 3.11 keeps Python-to-Python calls off the C stack; the C
#: recursion of json/repr at 10,000 levels needs about 3 MiB of stack, so worker threads get THREAD_STACK_BYTES
#: whatever the platform's default (2 MiB segfaults, measured).
RECURSION_LIMIT = 50_000
THREAD_STACK_BYTES = 16 * 1024 * 1024


def allow_apiserver_nesting() -> None:
    """Let every object the apiserver can hold be decoded, copied and diffed, in the event loop and in the worker
    threads started after this (see RECURSION_LIMIT)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    threading.stack_size(max(threading.stack_size(), THREAD_STACK_BYTES))


#: kopf keeps each object's essence (spec, labels, annotations) in one annotation, and the apiserver allows 256 KiB
#: for all of an object's annotations together (kubectl's last-applied-configuration is another copy of the spec).
DIFFBASE_MAX_BYTES = 112 * 1024


class BoundedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff-base, except that an essence too large for an annotation is stored as its digest.

    Without this, an object stored while the webhook was down (a 1 MB spec) can never be marked handled: every
    patch is refused (422, annotations too long) and kopf retries it forever, logging a traceback each time. With
    it, kopf sees such an object as changed at each of its events, which costs one refusing reconcile."""

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        encoded = json.dumps(essence, separators=(",", ":"))
        if len(encoded) > DIFFBASE_MAX_BYTES:
            digest = hashlib.sha256(encoded.encode()).hexdigest()
            essence = cast(kopf.BodyEssence, {DIGEST_KEY: digest})
        super().store(body=body, patch=patch, essence=essence)


# ------------------------------------------------------------------------------------------------------- lifecycle


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    allow_apiserver_nesting()  # before kopf lists or watches anything (it does so once start-up handlers finish)
    # Our own prefix, so spinop never shares progress annotations or finalizers with another kopf operator.
    # It must not be `spinop.io` itself: kopf drops every annotation under a storage prefix from the diff, and
    # users' annotations (spinop.io/rotate-credentials) must trigger an update.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = BoundedDiffBaseStorage(prefix=KOPF_PREFIX, key="last-handled-configuration")
    settings.posting.level = logging.WARNING  # spinop posts its own Events on state changes
    settings.networking.request_timeout = 30
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330

    config = OperatorConfig.load()
    settings.peering.lifetime = config.peering_lifetime_seconds
    metrics.serve(config.metrics.port, config.metrics.address)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=config.worker_threads))
    mgmt = await asyncio.to_thread(mgmt_client)
    ctx = OperatorContext(
        config=config,
        mgmt=mgmt,
        clusters=RemoteClusters(
            mgmt, config.credentials_namespace, refuse_powerful=config.refuse_powerful_admin_credentials
        ),
        sync=None,
    )
    if config.remote_watches:
        ctx.watches = RemoteWatches(ctx.clusters, functools.partial(wake_running_account, ctx), loop)
    ctx.gate = await build_gate(config, mgmt)
    ctx.sync = await build_sync(config, mgmt, ctx.gate, functools.partial(accounts.report_spinnaker_outcome, ctx))
    if ctx.sync is not None:
        await ctx.sync.start()
    memo["ctx"] = ctx
    if config.admission.enabled:
        # Registered here, not at import: kopf refuses to start with admission handlers but no server.
        admission_handlers.register(config.admission)
        signer = await asyncio.to_thread(admission_server.configure, settings, config.admission, mgmt)
        if signer is not None:  # self-signed mode: rotate the certificate while the operator runs
            memo["admission_rotation"] = asyncio.create_task(signer.keep_rotated())
        log.info(
            "admission webhook on %s:%s (%s configuration %s, failurePolicy %s)",
            config.admission.address,
            config.admission.port or "any free port",
            "managed" if config.admission.managed else "static",
            config.admission.managed or "from the install",
            config.admission.failure_policy,
        )
    log.info(
        "spinop started: credentials in namespace %s, Spinnaker backend %s, Gate %s",
        config.credentials_namespace,
        config.spinnaker_backend,
        ctx.gate.settings.url if ctx.gate is not None else "not configured",
    )


def wake_running_account(ctx: OperatorContext, uid: str) -> None:
    """A remote watch saw drift on this account's objects: run its periodic pass now. Only if that pass runs here
    (not for an account being deleted), so no wake-up is kept for a uid nobody waits on."""
    event = ctx.wakeups.get(uid)
    if event is not None:
        event.set()


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx: OperatorContext | None = memo.get("ctx")
    if ctx is not None and ctx.watches is not None:
        ctx.watches.stop_all()
    rotation: asyncio.Task[None] | None = memo.get("admission_rotation")
    if rotation is not None:
        rotation.cancel()
    if ctx is not None and ctx.sync is not None:
        await ctx.sync.stop()
    if ctx is not None and ctx.gate is not None:
        await ctx.gate.close()
