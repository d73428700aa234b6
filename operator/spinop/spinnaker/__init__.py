"""spinnaker."""
