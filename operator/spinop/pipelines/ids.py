"""Deterministic pipeline ids.

A pipeline's id derives from where its resource lives (`<mgmt-namespace>/<cr-name>`), not from the CR's uid or
its `spec.name`: a CR re-created by GitOps or restored from a backup maps to the same Spinnaker pipeline (and so
keeps its execution history), and renaming `spec.name` is a rename, not a new pipeline.
"""

from __future__ import annotations

import uuid

# Fixed forever: uuid5(NAMESPACE_DNS, "pipelines.spinop.io"). Changing it would orphan every managed pipeline.
SPINOP_PIPELINE_NAMESPACE = uuid.UUID("16c21b21-c3c3-5aaa-b7ce-ef080571f8ac")


def pipeline_id(mgmt_namespace: str, cr_name: str) -> str:
    """The Spinnaker pipeline id of the SpinnakerPipeline `cr_name` in MGMT namespace `mgmt_namespace`."""
    if not mgmt_namespace or not cr_name:
        raise ValueError("pipeline_id needs a namespace and a name")
    return str(uuid.uuid5(SPINOP_PIPELINE_NAMESPACE, f"{mgmt_namespace}/{cr_name}"))


def managed_service_account(pipeline_id: str) -> str:
    """The service account Orca creates for a pipeline with `roles` when managed service accounts are on."""
    return f"{pipeline_id}@managed-service-account"
