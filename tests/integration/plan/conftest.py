"""`spinop plan` needs a Spinnaker backend to compare with: reuse the Halyard stand-in fixtures."""

from tests.integration.spinnaker.conftest import halyard, operator_token_kubeconfig

__all__ = ["halyard", "operator_token_kubeconfig"]
