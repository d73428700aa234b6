"""Gate's failures, turned into ours. Messages carry Gate's words, never request bodies or credentials.

`to_spinop_error` is the one translation of a Gate failure into the SpinopError (reason, retry, needs a person) a
SpinnakerPipeline's conditions show. Clouddriver's account management API, reached through Gate, has its own
translator for account outcomes: `spinop.spinnaker.account_definitions.gate_failure`.
"""

from __future__ import annotations

from spinop.api.reasons import Reason
from spinop.errors import InvalidRequest, SpinopError


class GateError(Exception):
    """Base of every Gate failure. `retryable` tells a controller whether trying again later can help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GateUnavailable(GateError):
    """Gate could not be reached or failed on its side (connect error, timeout, 5xx): try again later.

    `may_have_reached` is True when the request may have been processed although no answer came back
    (a timeout or a dropped connection after sending), so a write must be read back before it is repeated.
    """

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, may_have_reached: bool = False) -> None:
        super().__init__(message, status=status)
        self.may_have_reached = may_have_reached


class GateRateLimited(GateUnavailable):
    """Gate kept answering 429 after the client's bounded back-off."""


class GateUnauthorized(GateError):
    """Gate refused our identity (401/403, a login redirect, or a TLS handshake it rejected)."""


class GateRejected(GateError):
    """Gate refused the request itself (400, 404, 409, 422 ...); `message` is Gate's reason."""


class GateNotFound(GateRejected):
    """The thing asked for does not exist."""


class GateUnroutablePath(GateRejected):
    """A value Gate would refuse as a URL path segment (gate/paths.py), so the request was not sent; e.g. a pipeline
    renamed in the UI to a name with ';' or '%' cannot be deleted by name until it is renamed."""


class GateAccountExists(GateRejected):
    """`POST /credentials` for a name clouddriver already has: 400 "Cannot create an account which already exists"
    when the name is loaded, or a duplicate-key 5xx when it is stored but not loaded yet (clouddriver
    AccountDefinitionService.createAccount, clouddriver-sql SqlAccountDefinitionRepository.create)."""


class GateAccountsApiDisabled(GateRejected):
    """Clouddriver's account storage is off: 400 "Cannot use AccountDefinitionService endpoints without enabling
    AccountDefinitionService bean" (clouddriver-web CredentialsController.validateAccountStorageEnabled)."""


class GateAccountRolesExcludeCaller(GateRejected):
    """Fiat: a caller that is not a Fiat admin wrote an account whose WRITE roles share none of its own roles: 400
    "Cannot <create|save> account without granting permissions for current user" (AccountDefinitionService)."""


class GateDuplicateName(GateRejected):
    """Another pipeline in the application already has this name (ignoring case), under another id.

    Also raised when more than one pipeline matches a name, so acting by name would be a guess.
    """

    def __init__(self, message: str, *, application: str, name: str, status: int | None = 400) -> None:
        super().__init__(message, status=status)
        self.application = application
        self.name = name


class GateStale(GateRejected):
    """`staleCheck=true` failed: the stored pipeline changed since the `lastModified` we sent. Re-read it."""


class GateSaveStillRunning(GateError):
    """Gate stopped waiting for its savePipeline task while it was still RUNNING (a 400 from Gate).

    The save may still complete afterwards: read the pipeline back before deciding to save again.
    """

    retryable = True

    def __init__(self, message: str, *, task_id: str | None, status: int | None = 400) -> None:
        super().__init__(message, status=status)
        self.task_id = task_id


class GateTaskFailed(GateRejected):
    """An Orca task (e.g. upsertApplication) ended in a status other than SUCCEEDED."""

    def __init__(self, message: str, *, task_id: str, task_status: str, errors: list[str]) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.task_status = task_status
        self.errors = errors


def to_spinop_error(err: GateError) -> SpinopError:
    """A Gate failure as the condition a tenant reads."""
    if isinstance(err, GateUnauthorized):
        return SpinopError(
            f"Gate refused spinop's identity ({err.message}); a platform admin must fix spinop's Gate credentials "
            "(gate.auth_secret)",
            reason=Reason.GateUnauthorized,
            retry_after=60,
        )
    if isinstance(err, GateDuplicateName):
        return InvalidRequest(err.message, reason=Reason.PipelineNameTaken, retry_after=120)
    if isinstance(err, GateTaskFailed):
        return InvalidRequest(f"Spinnaker refused: {err.message}", reason=Reason.GateTaskFailed, retry_after=120)
    if isinstance(err, GateRejected):
        return InvalidRequest(f"Gate refused: {err.message}", reason=Reason.GateRejected, retry_after=120)
    return SpinopError(f"Gate is not available: {err.message}", reason=Reason.GateUnavailable, retry_after=10)
