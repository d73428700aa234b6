"""halyard."""
