"""The spinop.io API.

- `spinop.api.v1alpha1`: pydantic models of SpinnakerCluster, SpinnakerAccount and SpinnakerPipeline (the single
  source of truth for `crds/`), plus `parse_resource` / `validate_resource` / `validate_update`.
- `spinop.api.crdgen`: builds and writes the CRD manifests from the models.
- `spinop.api.conditions`: pure helpers for status.conditions and the summary Ready condition.
- `spinop.api.errors`: `FieldError`, the (path, message) shape every validation layer reports in.
"""
