"""Run deploy/argocd/health.lua as Argo CD does: the object as the global `obj`, the script returns a table with
`status` and `message` (argoproj/argo-cd util/lua/lua.go, ExecuteHealthLua; gopher-lua is Lua 5.1, so lupa's
lua51 runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lupa import lua51

HEALTH_LUA = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "health.lua"
ARGOCD_HEALTH = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})


def argocd_health(obj: dict[str, Any], script: str | None = None) -> dict[str, str]:
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute(script if script is not None else HEALTH_LUA.read_text())
    health = {"status": str(result["status"]), "message": str(result["message"] or "")}
    assert health["status"] in ARGOCD_HEALTH, health
    return health
