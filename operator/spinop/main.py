"""kopf registrations: settings and handlers. Handlers only unpack kwargs and call a controller."""

from __future__ import annotations

from typing import Any

import kopf

from spinop import GROUP


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Our own prefix, so spinop never shares progress annotations or finalizers with another kopf operator.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = 20  # INFO and above become Kubernetes Events
    settings.networking.request_timeout = 30
    settings.watching.server_timeout = 300
