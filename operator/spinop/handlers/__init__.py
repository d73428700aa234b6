"""kopf registrations, one module per kind (plus the shared indexes); imported by `spinop.main`."""
