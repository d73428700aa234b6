"""Operator-level settings: where credentials go, which Spinnaker backend, how often to look again.

Read from a YAML file (`SPINOP_CONFIG`, mounted from a ConfigMap in the install) and then from `SPINOP_*`
environment variables, which win. Nested keys use `__`: `SPINOP_HALYARD__URL=http://spin-halyard:8064`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HalyardSettings(_Settings):
    url: str = Field(default="http://spin-halyard.spinnaker:8064", description="Halyard daemon URL (rest transport)")
    transport: Literal["rest", "exec"] = "rest"
    pod_namespace: str = "spinnaker"
    pod_name: str = "spin-halyard-0"
    container: str | None = None
    exec_server: str | None = Field(
        default=None, description="Kubernetes API URL for pods/exec (default: the operator's own MGMT API)"
    )
    deployment: str | None = Field(default=None, description="Halyard deployment name (default: its current one)")
    kubeconfig_delivery: Literal["exec", "mounted"] = "exec"
    kubeconfig_dir: str = "/home/spinnaker/.hal/spinop/kubeconfigs"
    mounted_secret_prefix: str = "spinop-halyard-kubeconfigs"
    mounted_shards: int = Field(default=8, ge=1, le=64)
    service_names: list[str] | None = Field(
        default=None, description="services to redeploy (default: clouddriver, or its HA split when HA is on)"
    )
    quiet_seconds: float = Field(default=10.0, ge=0)
    max_wait_seconds: float = Field(default=60.0, ge=0)
    deploy_timeout_minutes: int = Field(default=10, ge=1)


class GateSettings(_Settings):
    url: str = "http://spin-gate.spinnaker:8084"
    auth_secret: str | None = Field(default=None, description="Secret in the operator namespace with Gate credentials")
    ca_file: str | None = None
    rate_limit_app: str = "spinop"
    principal: str | None = Field(default=None, description="the identity Gate sees for spinop (for drift reports)")


class OperatorConfig(_Settings):
    operator_namespace: str = "spinop-system"
    credentials_namespace: str = "devops"
    spinnaker_backend: Literal["halyard", "accounts-api", "none"] = "halyard"
    halyard: HalyardSettings = Field(default_factory=HalyardSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    drift_interval_seconds: float = Field(default=300.0, gt=0)
    cluster_probe_seconds: float = Field(default=60.0, gt=0)
    reconcile_concurrency: int = Field(default=8, ge=1, le=64)
    worker_threads: int = Field(default=16, ge=2, le=128)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        path = env.get("SPINOP_CONFIG")
        if path:
            data = yaml.safe_load(Path(path).read_text()) or {}
        for key, value in env.items():
            if not key.startswith("SPINOP_") or key == "SPINOP_CONFIG":
                continue
            parts = key[len("SPINOP_") :].lower().split("__")
            if parts[0] not in cls.model_fields:
                continue
            target = data
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = yaml.safe_load(value) if value.startswith(("[", "{")) else value
        return cls.model_validate(data)

    @property
    def reserved_namespaces(self) -> tuple[str, ...]:
        """Namespaces no tenant may target (they hold spinop and everyone's credentials)."""
        return (self.operator_namespace, self.credentials_namespace)
