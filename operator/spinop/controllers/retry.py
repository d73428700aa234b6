"""The one retry policy of every reconcile and finalizer: what a SpinopError means for kopf.

A failure time can fix becomes kopf.TemporaryError after the error's own delay; one only a user can fix is reported in
status and rechecked by the periodic pass, no sooner than the error's delay allows. (A Kubernetes API failure that
escapes a controller is turned into kopf's retry by `handlers.retry`.)
"""

from __future__ import annotations

import kopf

from spinop.errors import SpinopError


def temporary(error: SpinopError) -> kopf.TemporaryError:
    """kopf's retry after the error's own delay, with its message (spinop's words, never a secret)."""
    return kopf.TemporaryError(error.message, delay=error.retry_after)


def next_pass(error: SpinopError | None, interval: float) -> float:
    """Seconds until the next pass after a reconcile that ended with `error` (None: it succeeded); raises kopf's
    retry when time can fix the error."""
    if error is None:
        return interval
    if not error.needs_user:
        raise temporary(error)
    return min(interval, error.retry_after)
