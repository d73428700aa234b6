"""docs/architecture.md: "the sync kubernetes client never runs on the event loop". Checked in the code itself: inside
an `async def` of the operator's package, no call to the sync client may run directly (only inside a function handed
to asyncio.to_thread, a lambda, or a nested sync def).

What counts as a sync client call: the generated API methods (`read_namespaced_*`, `list_*_for_all_namespaces`,
`*_cluster_custom_object`, `create_namespace`, ...), `kube.clients.call`, the remote cluster registry's `get` (it reads
the admin kubeconfig Secret), `post_event` and the status writers' `update`. An awaited call is async by definition
(the Gate and Halyard clients) and is not counted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "spinop"
CLIENT_METHOD = re.compile(
    r"^(read|list|create|patch|delete|replace|connect_get|connect_post)_"
    r"(namespaced_[a-z_]+|[a-z_]*cluster_custom_object|namespace|[a-z_]+_for_all_namespaces)$"
)


def _is_sync_client_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    text = ast.unparse(func)
    return (
        bool(CLIENT_METHOD.match(name))
        or name in {"call", "post_event"}
        or text.endswith("clusters.get")
        or (text.endswith("_status.update"))
    )


class _Finder(ast.NodeVisitor):
    def __init__(self, path: Path, package: Path) -> None:
        self.path, self.package = path, package
        self.scopes: list[ast.AST] = []
        self.found: list[str] = []

    def _scoped(self, node: ast.AST) -> None:
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = _scoped
    visit_FunctionDef = _scoped
    visit_Lambda = _scoped

    def visit_Await(self, node: ast.Await) -> None:
        if isinstance(node.value, ast.Call):  # the awaited call itself is async; its arguments are not
            for child in [node.value.func, *node.value.args, *(k.value for k in node.value.keywords)]:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if self.scopes and isinstance(self.scopes[-1], ast.AsyncFunctionDef) and _is_sync_client_call(node):
            where = self.path.relative_to(self.package).as_posix()
            self.found.append(f"{where}:{node.lineno} {ast.unparse(node.func)}(...)")
        self.generic_visit(node)


def sync_client_calls_in_async_code(package: Path = PACKAGE) -> list[str]:
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        finder = _Finder(path, package)
        finder.visit(ast.parse(path.read_text()))
        found += finder.found
    return found


def test_no_sync_kubernetes_client_call_runs_on_the_event_loop() -> None:
    assert sync_client_calls_in_async_code() == []


def test_the_check_sees_a_direct_call_and_not_one_handed_to_a_thread(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "async def f(ctx, api):\n"
        "    remote = ctx.clusters.get(connection)\n"
        "    api.read_namespaced_secret('a', 'b')\n"
        "    await asyncio.to_thread(api.list_namespaced_pod, 'ns')\n"
        "    await asyncio.to_thread(lambda: api.patch_namespace('x', {}))\n"
        "    await gate.list_pipeline_configs('app')\n"
        "    def inner():\n"
        "        return api.delete_namespace('x')\n"
    )
    assert sync_client_calls_in_async_code(tmp_path) == [
        "bad.py:2 ctx.clusters.get(...)",
        "bad.py:3 api.read_namespaced_secret(...)",
    ]
