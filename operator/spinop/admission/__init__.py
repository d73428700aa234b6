"""Admission: what a CRD schema cannot say about spinop's objects, refused early by a validating webhook.

- `rules`: pure decisions (shared with the reconcile, which checks the same tenancy rules again);
- `observe`: the few MGMT reads a decision needs (fresh, not from the operator's eventually consistent indexes);
- `pipelines`: the hook through which the pipeline tenant guard joins admission;
- `server`: kopf's WebhookServer and certificates (generated for development, mounted in production).

The kopf registrations are in `spinop.handlers.admission`; docs/admission.md explains the choices.
"""
