"""The Halyard pod's filesystem, for the test double of the Halyard daemon: pod paths live under a root dir.

`/home/spinnaker/.hal/config` in the pod is `<root>/home/spinnaker/.hal/config` on the test machine. Paths may
not escape the root. Relative paths resolve against the hal config directory, like Halyard's `FileService`.
"""

from __future__ import annotations

import posixpath
from pathlib import Path


class PodPathError(ValueError):
    pass


class PodFilesystem:
    def __init__(self, root: Path, home: str = "/home/spinnaker") -> None:
        self.root = root.resolve()
        self.home = home
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def hal_dir(self) -> str:
        return f"{self.home}/.hal"

    def normalize(self, pod_path: str) -> str:
        if not pod_path:
            raise PodPathError("empty path")
        if not pod_path.startswith("/"):
            pod_path = f"{self.hal_dir}/{pod_path}"
        norm = posixpath.normpath(pod_path)
        if norm.startswith("//"):
            norm = "/" + norm.lstrip("/")
        return norm

    def host_path(self, pod_path: str) -> Path:
        norm = self.normalize(pod_path)
        host = (self.root / norm.lstrip("/")).resolve()
        if host != self.root and self.root not in host.parents:
            raise PodPathError(f"{pod_path} escapes the pod filesystem")
        return host

    def pod_path(self, host: Path) -> str:
        return "/" + str(host.resolve().relative_to(self.root)).replace("\\", "/")
