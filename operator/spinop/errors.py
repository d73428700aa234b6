"""spinop's own errors: each carries the condition reason a tenant reads and whether time can fix it."""

from __future__ import annotations

from spinop.api.reasons import Reason


class SpinopError(Exception):
    """A failure with a `reason` (a `Reason` member) and a `message` that says what happened and what to do."""

    reason: Reason = Reason.Error
    #: True when only a change by a user (spec, tenancy, remote objects) can fix it; retried slowly anyway.
    needs_user = False
    #: Seconds before trying again.
    retry_after = 30.0

    def __init__(self, message: str, *, reason: Reason | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        if retry_after is not None:
            self.retry_after = retry_after


class InvalidRequest(SpinopError):
    """Input only the tenant or admin can fix (tenancy, names, conflicts)."""

    needs_user = True
    retry_after = 300.0


class ClusterUnreachable(SpinopError):
    reason = Reason.ClusterUnreachable
    retry_after = 15.0


class RemoteCredentialsRejected(SpinopError):
    reason = Reason.ClusterCredentialsRejected
    needs_user = True
    retry_after = 60.0


class TokenRejected(SpinopError):
    """The cluster does not accept the account's token (expired, revoked, or its ServiceAccount was re-created)."""

    reason = Reason.TokenRejected
    retry_after = 5.0


class RemoteApiError(SpinopError):
    reason = Reason.RemoteApiError
    retry_after = 20.0


class Waiting(SpinopError):
    """Nothing is wrong; something has to happen first."""

    reason = Reason.Waiting
    retry_after = 5.0
