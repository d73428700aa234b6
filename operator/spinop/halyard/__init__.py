"""The Halyard client: REST transport (daemon :8064) and exec transport (`hal` over pods/exec)."""

from .client import HalyardClient, HalyardTransport
from .errors import (
    HalyardError,
    HalyardNotFound,
    HalyardNotSupported,
    HalyardProtocolError,
    HalyardRejected,
    HalyardTaskFailed,
    HalyardTaskOverdue,
    HalyardUnavailable,
)
from .exec_transport import ExecTransport
from .kube_exec import ExecResult, KubeExecClient, KubeExecError
from .model import (
    CachingPolicy,
    CustomResource,
    DockerRegistryReference,
    KubernetesAccount,
    Problem,
    RawResourcesEndpointConfig,
    Severity,
    TaskResult,
    TaskSummary,
    account_to_halyard,
)
from .rest import RestTransport

__all__ = [
    "CachingPolicy",
    "CustomResource",
    "DockerRegistryReference",
    "ExecResult",
    "ExecTransport",
    "HalyardClient",
    "HalyardError",
    "HalyardNotFound",
    "HalyardNotSupported",
    "HalyardProtocolError",
    "HalyardRejected",
    "HalyardTaskFailed",
    "HalyardTaskOverdue",
    "HalyardTransport",
    "HalyardUnavailable",
    "KubeExecClient",
    "KubeExecError",
    "KubernetesAccount",
    "Problem",
    "RawResourcesEndpointConfig",
    "RestTransport",
    "Severity",
    "TaskResult",
    "TaskSummary",
    "account_to_halyard",
]
