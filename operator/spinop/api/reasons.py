"""Every condition reason spinop can set, declared once with its class: does time fix it, or only a person?

The status writer (kube/status.py) turns the class of Ready's reason into the kstatus conditions GitOps tools read
(Flux through sigs.k8s.io/cli-utils' kstatus, Argo CD through deploy/argocd/): a PROGRESS reason gives
`Reconciling=True` (kstatus InProgress), a NEEDS_A_PERSON reason gives `Stalled=True` (kstatus Failed). The demo
explains NEEDS_A_PERSON reasons at once, and docs/troubleshooting.md has one row per reason
(tests/unit/api/test_reasons.py keeps the three in step with the code).
"""

from __future__ import annotations

RECONCILING = "Reconciling"
STALLED = "Stalled"

#: Not Ready yet, and spinop keeps working on it: no one has to act.
PROGRESS = frozenset(
    {
        "Reconciling",
        "Pending",
        "Waiting",
        "WaitingForAccount",
        "NamespaceTerminating",
        "RotationWaiting",
        "RollingOut",
        "MigratingFromHalyard",
        "NotLoadedByClouddriver",
        "AccountCreatedConcurrently",
        "SaveStillRunning",
        "SaveNotVisible",
        "PipelineStale",
        "Drifted",
        "ClusterUnreachable",
        "RemoteApiError",
        "HalyardUnavailable",
        "HalyardTaskFailed",
        "DeployFailed",
        "KubeconfigDeliveryFailed",
        "GateUnavailable",
        "GateRateLimited",
        "NoOutcome",
        "CheckFailed",
        "Error",
    }
)

#: Only a change by a person (the tenant's spec, the platform admin's SpinnakerCluster or Secrets, Spinnaker's
#: configuration) can fix it: every refusal is here.
NEEDS_A_PERSON = frozenset(
    {
        # refusals of the spec or of the tenancy rules
        "InvalidSpec",
        "FieldValueForbidden",
        "NamespaceNotAllowed",
        "NamespaceNotGranted",
        "NamespaceGrantNotLabelled",
        "NamespaceOwnedByAnotherAccount",
        "NamespaceOwnedByAnotherTenant",
        "OwnedByAnotherAccount",
        "ObjectNotManaged",
        "TenantNotAllowed",
        "ProfileNotAllowed",
        "ExtraRulesNotAllowed",
        "AccountNameTaken",
        "AccountNameNotAllowed",
        "AdoptNotAllowed",
        "ClusterNotFound",
        "ClusterInvalid",
        "TooManyAccountsOnMissingClusters",
        "TenantQuotaExceeded",
        "TenantCacheThreadsExceeded",
        "GuardrailsLooserThanCluster",
        "PermissionsGrantNoRole",
        "CredentialsSecretConflict",
        "PipelineRefused",
        "PipelineNotAllowed",
        "PipelineNameTaken",
        "PipelineNameAmbiguous",
        "ApplicationNotOwned",
        "ApplicationNotManaged",
        "ApplicationOwnedByAnotherNamespace",
        # the platform admin's installation
        "ClusterSecretMissing",
        "ClusterSecretInvalid",
        "ClusterCredentialsRejected",
        "TokenRejected",
        "PermissionsMismatch",
        "TenantLimitsNotEnforced",
        "GateNotConfigured",
        "GateMisconfigured",
        "GateUnauthorized",
        # Spinnaker refused or cannot express the request
        "HalyardRejected",
        "HalTransportCannotExpress",
        "HalyardDroppedField",
        "AccountExistsInSpinnaker",
        "AccountInStaticConfig",
        "AccountsApiNotEnabled",
        "AccountsApiRejected",
        "SpinnakerAccountRolesExcludeOperator",
        "GateRejected",
        "GateTaskFailed",
    }
)

#: Reasons of True conditions (and of the warning conditions outside Ready, which never make an object unhealthy).
HEALTHY = frozenset(
    {
        "Ready",
        "Provisioned",
        "Issued",
        "Verified",
        "Synced",
        "SpinnakerSyncDisabled",
        "Saved",
        "InSync",
        "Applied",
        "MaintainedByNamespaceCreator",
        "Reachable",
        "Installed",
    }
)

#: Reasons of conditions outside Ready: warnings a person may act on, never a kstatus verdict.
WARNINGS = frozenset(
    {
        "AsDeployRemote",
        "BeyondDeployRemote",
        "PolicyMissing",
        "NamespaceNotCreatedBySpinop",
        "LooserThanCluster",
        "NamespacesFailed",
    }
)


def needs_a_person(reason: str | None) -> bool:
    """Whether only a person can fix a condition with this reason; an unknown reason counts as progress (spinop
    retries it), and tests/unit/api/test_reasons.py keeps unknown reasons out of the code."""
    return reason in NEEDS_A_PERSON
