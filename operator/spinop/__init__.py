"""spinop: Spinnaker accounts and pipelines as Kubernetes custom resources."""

GROUP = "spinop.io"
# Where kopf keeps its bookkeeping annotations (progress, last-handled configuration); see main.startup.
KOPF_PREFIX = f"kopf.{GROUP}"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__version__ = "0.1.0"
