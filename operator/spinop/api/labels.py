"""Every label and annotation key spinop writes or reads, declared once (kustomize-controller keeps its keys in its
API package too). The objects they sit on, and what reads them, are said per key.
"""

from __future__ import annotations

from spinop import GROUP

# ---------------------------------------------------------------------- remote objects of a SpinnakerAccount

MANAGED_BY = "app.kubernetes.io/managed-by"  # label, value "spinop": on every object spinop creates
OWNER_UID = f"{GROUP}/account-uid"  # label: the SpinnakerAccount's uid
OWNER = f"{GROUP}/owner"  # annotation: <mgmt-namespace>/<name> of the SpinnakerAccount
CLUSTER = f"{GROUP}/cluster"  # annotation: the SpinnakerCluster name
ACCOUNT = f"{GROUP}/account-name"  # annotation: the Spinnaker account name
CREATED_NAMESPACE = f"{GROUP}/created-by-account-uid"  # annotation on namespaces spinop created, never on others
TENANT = f"{GROUP}/tenant"  # label on every object spinop creates: the tenant (MGMT namespace) it belongs to
# Label a remote cluster's admin (never spinop) sets on an existing namespace it hands to a tenant; deploy/remote's
# admission policy lets spinop write there only for that tenant (objects labelled TENANT with the same value).
GRANTED_TENANT = f"{GROUP}/granted-tenant"
# Namespace annotation the remote admission policy spinop-tenant-limits reads (deploy/remote/tenant-policy.yaml):
# comma-separated host suffixes the namespace's Ingresses may use. Tenants cannot change namespace annotations.
INGRESS_HOSTS_ANNOTATION = f"{GROUP}/ingress-host-suffixes"
TOKEN_SECRET_LABEL = f"{GROUP}/token-for"  # label on token Secrets, value: token_for(the ServiceAccount name)

# ------------------------------------------------------------------------ the credentials Secret in MGMT

ACCOUNT_NAMESPACE = f"{GROUP}/account-namespace"  # label: the MGMT namespace of the SpinnakerAccount
TOKEN_SOURCE = f"{GROUP}/token-source"  # annotation: TokenRequest or ServiceAccountTokenSecret
TOKEN_EXPIRES_AT = f"{GROUP}/token-expires-at"  # annotation: when the token expires (ISO 8601, empty: never)
TOKEN_FINGERPRINT = f"{GROUP}/token-fingerprint"  # annotation: a fingerprint of the token, never the token
ISSUED_AT = f"{GROUP}/issued-at"  # annotation: when spinop wrote these credentials
TOKEN_SECRET = f"{GROUP}/token-secret"  # annotation: the remote token Secret behind the token, if any
PREVIOUS_TOKEN_SECRET = f"{GROUP}/previous-token-secret"  # annotation: the token Secret still to delete on rotation
ROTATION_REQUEST = f"{GROUP}/rotation-request"  # annotation: the ROTATE_ANNOTATION value these credentials answer
SERVICE_ACCOUNT_UID = f"{GROUP}/service-account-uid"  # annotation: the remote ServiceAccount the token is for
RENDER_KEY = f"{GROUP}/render-key"  # annotation: what the kubeconfig was rendered from (re-render when it changes)

# --------------------------------------------------------------------------------------------- MGMT objects

ROTATE_ANNOTATION = f"{GROUP}/rotate-credentials"  # annotation a user sets on a SpinnakerAccount to rotate its token
DIGEST_KEY = f"{GROUP}/essence-sha256"  # key in kopf's diff-base annotation: the sha256 of a too large essence
IMPORTED_FROM = f"{GROUP}/imported-from"  # annotation `spinop import` puts on what it generates: the source
