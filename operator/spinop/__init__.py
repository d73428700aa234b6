"""spinop: Spinnaker accounts and pipelines as Kubernetes custom resources."""

GROUP = "spinop.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__version__ = "0.1.0"
