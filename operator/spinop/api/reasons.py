"""Every reason spinop gives (condition reasons, SpinopError.reason, admission refusals), declared once as a `Reason`
member with its group: does time fix it, or only a person?

`Reason` is a StrEnum: a member equals, hashes and formats as its wire string, so status.conditions, Events, metrics
and webhook answers carry the same strings as before. pydantic's `Condition` stores it as a plain str; anything that
dumps YAML itself (yaml.safe_dump refuses str subclasses) must pass `.value` (tests/unit/api/test_reasons.py).

The status writer (kube/status.py) turns the group of Ready's reason into the kstatus conditions GitOps tools read
(Flux through sigs.k8s.io/cli-utils' kstatus, Argo CD through deploy/argocd/): a PROGRESS reason gives
`Reconciling=True` (kstatus InProgress), a NEEDS_A_PERSON reason gives `Stalled=True` (kstatus Failed). The demo
explains NEEDS_A_PERSON reasons at once, and docs/troubleshooting.md has one row per reason
(tests/unit/api/test_reasons.py keeps the three in step with the code, and keeps reason string literals out of it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

RECONCILING = "Reconciling"
STALLED = "Stalled"


class ReasonGroup(StrEnum):
    """What a reason tells a person (and kstatus): wait, act, all is well, a warning, or a webhook answer."""

    PROGRESS = "progress"
    NEEDS_A_PERSON = "needs a person"
    HEALTHY = "healthy"
    WARNING = "warning"
    ADMISSION = "admission"


class Reason(StrEnum):
    """Every reason spinop gives; a member's name is its wire string: grepping what kubectl shows finds the code."""

    group: ReasonGroup

    def __new__(cls, value: str, group: ReasonGroup) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.group = group
        return member

    @property
    def needs_a_person(self) -> bool:
        return self.group is ReasonGroup.NEEDS_A_PERSON

    # Not Ready yet, and spinop keeps working on it: no one has to act.
    Reconciling = "Reconciling", ReasonGroup.PROGRESS
    Pending = "Pending", ReasonGroup.PROGRESS
    Waiting = "Waiting", ReasonGroup.PROGRESS
    WaitingForAccount = "WaitingForAccount", ReasonGroup.PROGRESS
    NamespaceTerminating = "NamespaceTerminating", ReasonGroup.PROGRESS
    RotationWaiting = "RotationWaiting", ReasonGroup.PROGRESS
    RollingOut = "RollingOut", ReasonGroup.PROGRESS
    MigratingFromHalyard = "MigratingFromHalyard", ReasonGroup.PROGRESS
    NotLoadedByClouddriver = "NotLoadedByClouddriver", ReasonGroup.PROGRESS
    AccountCreatedConcurrently = "AccountCreatedConcurrently", ReasonGroup.PROGRESS
    SaveStillRunning = "SaveStillRunning", ReasonGroup.PROGRESS
    SaveNotVisible = "SaveNotVisible", ReasonGroup.PROGRESS
    PipelineStale = "PipelineStale", ReasonGroup.PROGRESS
    Drifted = "Drifted", ReasonGroup.PROGRESS
    ClusterUnreachable = "ClusterUnreachable", ReasonGroup.PROGRESS
    RemoteApiError = "RemoteApiError", ReasonGroup.PROGRESS
    # In kopf's retry and the operator log only: the status write is what failed (handlers.retry).
    MgmtApiError = "MgmtApiError", ReasonGroup.PROGRESS
    # The four below were set but never classified, so they counted as progress; issue 18 changes no verdict.
    # Only an admin can fix CredentialsTooPowerful (also the type of a warning condition, whose reason is then
    # AsDeployRemote/BeyondDeployRemote).
    CredentialsTooPowerful = "CredentialsTooPowerful", ReasonGroup.PROGRESS
    GateError = "GateError", ReasonGroup.PROGRESS
    HalyardError = "HalyardError", ReasonGroup.PROGRESS
    Deleting = "Deleting", ReasonGroup.PROGRESS
    HalyardUnavailable = "HalyardUnavailable", ReasonGroup.PROGRESS
    HalyardTaskFailed = "HalyardTaskFailed", ReasonGroup.PROGRESS
    DeployFailed = "DeployFailed", ReasonGroup.PROGRESS
    KubeconfigDeliveryFailed = "KubeconfigDeliveryFailed", ReasonGroup.PROGRESS
    GateUnavailable = "GateUnavailable", ReasonGroup.PROGRESS
    GateRateLimited = "GateRateLimited", ReasonGroup.PROGRESS
    NoOutcome = "NoOutcome", ReasonGroup.PROGRESS
    CheckFailed = "CheckFailed", ReasonGroup.PROGRESS
    Error = "Error", ReasonGroup.PROGRESS

    # Only a change by a person (the tenant's spec, the platform admin's SpinnakerCluster or Secrets, Spinnaker's
    # configuration) can fix it: every refusal is here.
    # refusals of the spec or of the tenancy rules
    InvalidSpec = "InvalidSpec", ReasonGroup.NEEDS_A_PERSON
    FieldValueForbidden = "FieldValueForbidden", ReasonGroup.NEEDS_A_PERSON
    NamespaceNotAllowed = "NamespaceNotAllowed", ReasonGroup.NEEDS_A_PERSON
    NamespaceNotGranted = "NamespaceNotGranted", ReasonGroup.NEEDS_A_PERSON
    NamespaceGrantNotLabelled = "NamespaceGrantNotLabelled", ReasonGroup.NEEDS_A_PERSON
    NamespaceOwnedByAnotherAccount = "NamespaceOwnedByAnotherAccount", ReasonGroup.NEEDS_A_PERSON
    NamespaceOwnedByAnotherTenant = "NamespaceOwnedByAnotherTenant", ReasonGroup.NEEDS_A_PERSON
    OwnedByAnotherAccount = "OwnedByAnotherAccount", ReasonGroup.NEEDS_A_PERSON
    ObjectNotManaged = "ObjectNotManaged", ReasonGroup.NEEDS_A_PERSON
    TenantNotAllowed = "TenantNotAllowed", ReasonGroup.NEEDS_A_PERSON
    ProfileNotAllowed = "ProfileNotAllowed", ReasonGroup.NEEDS_A_PERSON
    ExtraRulesNotAllowed = "ExtraRulesNotAllowed", ReasonGroup.NEEDS_A_PERSON
    AccountNameTaken = "AccountNameTaken", ReasonGroup.NEEDS_A_PERSON
    AccountNameNotAllowed = "AccountNameNotAllowed", ReasonGroup.NEEDS_A_PERSON
    AdoptNotAllowed = "AdoptNotAllowed", ReasonGroup.NEEDS_A_PERSON
    ClusterNotFound = "ClusterNotFound", ReasonGroup.NEEDS_A_PERSON
    ClusterInvalid = "ClusterInvalid", ReasonGroup.NEEDS_A_PERSON
    TooManyAccountsOnMissingClusters = "TooManyAccountsOnMissingClusters", ReasonGroup.NEEDS_A_PERSON
    TenantQuotaExceeded = "TenantQuotaExceeded", ReasonGroup.NEEDS_A_PERSON
    TenantCacheThreadsExceeded = "TenantCacheThreadsExceeded", ReasonGroup.NEEDS_A_PERSON
    GuardrailsLooserThanCluster = "GuardrailsLooserThanCluster", ReasonGroup.NEEDS_A_PERSON
    PermissionsGrantNoRole = "PermissionsGrantNoRole", ReasonGroup.NEEDS_A_PERSON
    CredentialsSecretConflict = "CredentialsSecretConflict", ReasonGroup.NEEDS_A_PERSON
    InventoryFull = "InventoryFull", ReasonGroup.NEEDS_A_PERSON
    PipelineRefused = "PipelineRefused", ReasonGroup.NEEDS_A_PERSON
    PipelineNotAllowed = "PipelineNotAllowed", ReasonGroup.NEEDS_A_PERSON
    PipelineNameTaken = "PipelineNameTaken", ReasonGroup.NEEDS_A_PERSON
    PipelineNameAmbiguous = "PipelineNameAmbiguous", ReasonGroup.NEEDS_A_PERSON
    ApplicationNotOwned = "ApplicationNotOwned", ReasonGroup.NEEDS_A_PERSON
    ApplicationNotManaged = "ApplicationNotManaged", ReasonGroup.NEEDS_A_PERSON
    ApplicationOwnedByAnotherNamespace = "ApplicationOwnedByAnotherNamespace", ReasonGroup.NEEDS_A_PERSON
    # the platform admin's installation
    ClusterSecretMissing = "ClusterSecretMissing", ReasonGroup.NEEDS_A_PERSON
    ClusterSecretInvalid = "ClusterSecretInvalid", ReasonGroup.NEEDS_A_PERSON
    ClusterCredentialsRejected = "ClusterCredentialsRejected", ReasonGroup.NEEDS_A_PERSON
    TokenRejected = "TokenRejected", ReasonGroup.NEEDS_A_PERSON
    PermissionsMismatch = "PermissionsMismatch", ReasonGroup.NEEDS_A_PERSON
    TenantLimitsNotEnforced = "TenantLimitsNotEnforced", ReasonGroup.NEEDS_A_PERSON
    GateNotConfigured = "GateNotConfigured", ReasonGroup.NEEDS_A_PERSON
    GateMisconfigured = "GateMisconfigured", ReasonGroup.NEEDS_A_PERSON
    GateUnauthorized = "GateUnauthorized", ReasonGroup.NEEDS_A_PERSON
    # Spinnaker refused or cannot express the request
    HalyardRejected = "HalyardRejected", ReasonGroup.NEEDS_A_PERSON
    HalTransportCannotExpress = "HalTransportCannotExpress", ReasonGroup.NEEDS_A_PERSON
    HalyardDroppedField = "HalyardDroppedField", ReasonGroup.NEEDS_A_PERSON
    AccountExistsInSpinnaker = "AccountExistsInSpinnaker", ReasonGroup.NEEDS_A_PERSON
    AccountInStaticConfig = "AccountInStaticConfig", ReasonGroup.NEEDS_A_PERSON
    AccountsApiNotEnabled = "AccountsApiNotEnabled", ReasonGroup.NEEDS_A_PERSON
    AccountsApiRejected = "AccountsApiRejected", ReasonGroup.NEEDS_A_PERSON
    SpinnakerAccountRolesExcludeOperator = "SpinnakerAccountRolesExcludeOperator", ReasonGroup.NEEDS_A_PERSON
    GateRejected = "GateRejected", ReasonGroup.NEEDS_A_PERSON
    GateTaskFailed = "GateTaskFailed", ReasonGroup.NEEDS_A_PERSON

    # Reasons of True conditions (and of the warning conditions outside Ready, which never make an object unhealthy).
    Ready = "Ready", ReasonGroup.HEALTHY
    Provisioned = "Provisioned", ReasonGroup.HEALTHY
    Issued = "Issued", ReasonGroup.HEALTHY
    Verified = "Verified", ReasonGroup.HEALTHY
    Synced = "Synced", ReasonGroup.HEALTHY
    SpinnakerSyncDisabled = "SpinnakerSyncDisabled", ReasonGroup.HEALTHY
    Saved = "Saved", ReasonGroup.HEALTHY
    InSync = "InSync", ReasonGroup.HEALTHY
    Applied = "Applied", ReasonGroup.HEALTHY
    MaintainedByNamespaceCreator = "MaintainedByNamespaceCreator", ReasonGroup.HEALTHY
    Reachable = "Reachable", ReasonGroup.HEALTHY
    Installed = "Installed", ReasonGroup.HEALTHY

    # Reasons of conditions outside Ready: warnings a person may act on, never a kstatus verdict.
    AsDeployRemote = "AsDeployRemote", ReasonGroup.WARNING
    BeyondDeployRemote = "BeyondDeployRemote", ReasonGroup.WARNING
    PolicyMissing = "PolicyMissing", ReasonGroup.WARNING
    NamespaceNotCreatedBySpinop = "NamespaceNotCreatedBySpinop", ReasonGroup.WARNING
    LooserThanCluster = "LooserThanCluster", ReasonGroup.WARNING
    NamespacesFailed = "NamespacesFailed", ReasonGroup.WARNING

    # The admission webhook's answers: the object is never stored, so no condition carries them.
    Invalid = "Invalid", ReasonGroup.ADMISSION
    AdmissionUnavailable = "AdmissionUnavailable", ReasonGroup.ADMISSION


def _group(group: ReasonGroup) -> frozenset[Reason]:
    return frozenset(r for r in Reason if r.group is group)


#: Not Ready yet, and spinop keeps working on it: no one has to act.
PROGRESS = _group(ReasonGroup.PROGRESS)
#: Only a change by a person can fix it: every refusal is here.
NEEDS_A_PERSON = _group(ReasonGroup.NEEDS_A_PERSON)
#: Reasons of True conditions (and of the warning conditions outside Ready).
HEALTHY = _group(ReasonGroup.HEALTHY)
#: Reasons of conditions outside Ready: warnings a person may act on, never a kstatus verdict.
WARNINGS = _group(ReasonGroup.WARNING)
#: Admission answers: the object is never stored.
ADMISSION = _group(ReasonGroup.ADMISSION)


def needs_a_person(reason: str | None) -> bool:
    """Whether only a person can fix a condition with this reason (a stored string or a member); an unknown reason
    counts as progress (spinop retries it), and tests/unit/api/test_reasons.py keeps unknown reasons out of the code."""
    return reason in NEEDS_A_PERSON


class EventReason(StrEnum):
    """The reason of every Event spinop posts that is not a condition's own reason (a condition that turns bad posts
    its `Reason` as a Warning; Ready posts `Reason.Ready`). Events report what happened once; they never carry a
    verdict, so these have no group. Each has its row in docs/troubleshooting.md's Events table."""

    # SpinnakerAccount
    CredentialsIssued = "CredentialsIssued"
    CredentialsRotated = "CredentialsRotated"
    OldCredentialsRevoked = "OldCredentialsRevoked"
    DriftRepaired = "DriftRepaired"
    NamespaceKept = "NamespaceKept"
    RemoteCleanupSkipped = "RemoteCleanupSkipped"
    # SpinnakerPipeline
    ApplicationCreated = "ApplicationCreated"
    PipelineCreated = "PipelineCreated"
    PipelineUpdated = "PipelineUpdated"
    PipelineAdopted = "PipelineAdopted"
    DriftDetected = "DriftDetected"
    DriftRestored = "DriftRestored"
    SyncedFalse = "SyncedFalse"
    PipelineKept = "PipelineKept"
    PipelineDeleted = "PipelineDeleted"
