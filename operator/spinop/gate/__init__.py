"""The Gate client: applications, Orca tasks, pipeline configs and Spinnaker's account management API."""

from .client import Application, GateClient, TaskResult, pipeline_save_error, reset_wait_seconds, task_errors
from .errors import (
    GateAccountExists,
    GateAccountRolesExcludeCaller,
    GateAccountsApiDisabled,
    GateDuplicateName,
    GateError,
    GateNotFound,
    GateRateLimited,
    GateRejected,
    GateSaveStillRunning,
    GateStale,
    GateTaskFailed,
    GateUnauthorized,
    GateUnavailable,
)
from .settings import BasicAuth, BearerAuth, GateAuth, GateSettings, NoAuth, X509Auth

__all__ = [
    "Application",
    "BasicAuth",
    "BearerAuth",
    "GateAccountExists",
    "GateAccountRolesExcludeCaller",
    "GateAccountsApiDisabled",
    "GateAuth",
    "GateClient",
    "GateDuplicateName",
    "GateError",
    "GateNotFound",
    "GateRateLimited",
    "GateRejected",
    "GateSaveStillRunning",
    "GateSettings",
    "GateStale",
    "GateTaskFailed",
    "GateUnauthorized",
    "GateUnavailable",
    "NoAuth",
    "TaskResult",
    "X509Auth",
    "pipeline_save_error",
    "reset_wait_seconds",
    "task_errors",
]
