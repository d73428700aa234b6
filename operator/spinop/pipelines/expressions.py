"""Which pipeline expressions the guard can prove harmless, and in which fields they may appear (pure).

Orca evaluates every string that contains `${`, in map keys as well as in values (kork
`ExpressionTransform.transformMap`, used by orca's `PipelineExpressionEvaluator` with a
`TemplateParserContext("${", "}")`). An expression resolves when the pipeline runs, after the guard, so the guard
allows one only where it is harmless: in a field on an allowlist (free text, or a field the SpinnakerCluster grants
in `tenancy.pipelines.expressionFields`), and only when it is a plain reference to data the execution already holds
(`${trigger.tag}`, `${parameters['replicas']}`, `${#stage('Build')['outputs']['image']}`). Anything else (method
calls, `#fromUrl`/`#jsonFromUrl`/`#readJson` and the other helpers, `T(...)` types, operators) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .paths import PathPart

EXPRESSION_PREFIX = "${"

#: Free text Orca shows to people or sends as a message: an expression there cannot move a deployment.
DEFAULT_EXPRESSION_FIELDS = (
    "description",
    "stages[].name",
    "stages[].comments",
    "stages[].instructions",
    "notifications[].message.*.text",
    "stages[].notifications[].message.*.text",
)

_IDENT = r"[a-z][A-Za-z0-9_]*"
_QUOTED = r"'[^'\\$#{}()]*'|\"[^\"\\$#{}()]*\""
_ROOT = rf"(?:trigger|parameters|execution|#stage\((?:{_QUOTED})\))"
_ACCESS = rf"(?:\??\.{_IDENT}|\[(?:{_QUOTED}|\d+)\])"
_SAFE = re.compile(rf"\$\{{\s*{_ROOT}{_ACCESS}*\s*\}}")
_FORBIDDEN_NAMES = re.compile(r"\.\s*(?:class|getClass)\b")


def has_expression(text: str) -> bool:
    """What Orca evaluates: any string containing `${` (kork ExpressionTransform.isExpression)."""
    return EXPRESSION_PREFIX in text


def is_plain_reference(text: str) -> bool:
    """Every `${...}` in `text` is a property path into trigger, parameters, execution or `#stage('...')`."""
    if _FORBIDDEN_NAMES.search(text):
        return False
    return EXPRESSION_PREFIX not in _SAFE.sub("", text)


_CONDITION_TOKEN = re.compile(
    rf"\s*(?:(?P<value>{_ROOT}{_ACCESS}*(?![A-Za-z0-9_])|(?:{_QUOTED})|-?\d+(?:\.\d+)?(?![A-Za-z0-9_])"
    r"|(?:true|false|null)(?![A-Za-z0-9_]))|(?P<open>\()|(?P<close>\))"
    r"|(?P<op>==|!=|<=|>=|<|>|&&|\|\||!|(?:and|or|not)(?![A-Za-z0-9_])))"
)


def is_plain_condition(text: str) -> bool:
    """A bare expression Orca wraps in `${...}` itself (a stage's `stageEnabled.expression`, an `expression`
    precondition): only references, literals, comparisons, `!`/`&&`/`||`/`and`/`or`/`not` and parentheses; a `(`
    may not follow a value (that would be a method call)."""
    if EXPRESSION_PREFIX in text or _FORBIDDEN_NAMES.search(text) or not text.strip():
        return False
    pos, previous, end = 0, "op", len(text.rstrip())
    while pos < end:
        match = _CONDITION_TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            return False
        kind = match.lastgroup or ""
        if kind in ("value", "open") and previous in ("value", "close"):
            return False
        previous, pos = kind, match.end()
    return True


def _tokens(parts: Iterable[PathPart]) -> tuple[str, ...]:
    return tuple("[]" if isinstance(p, int) else p for p in parts)


def parse_field_pattern(pattern: str) -> tuple[str, ...]:
    """`stages[].manifests[].spec.replicas` -> ("stages", "[]", "manifests", "[]", "spec", "replicas")."""
    out: list[str] = []
    for segment in pattern.split("."):
        key, _, rest = segment.partition("[]")
        if key:
            out.append(key)
        out.extend("[]" for _ in range(1 + rest.count("[]") if segment.count("[]") else 0))
    return tuple(out)


def field_matches(path: Sequence[PathPart], pattern: tuple[str, ...]) -> bool:
    """`*` matches any one key, `[]` any list index; everything else matches exactly."""
    tokens = _tokens(path)
    if len(tokens) != len(pattern):
        return False
    return all(p == t or (p == "*" and t != "[]") for p, t in zip(pattern, tokens, strict=True))


def field_patterns(granted: Iterable[str]) -> list[tuple[str, ...]]:
    """The free-text fields plus the granted ones, parsed once per check."""
    return [parse_field_pattern(p) for p in (*DEFAULT_EXPRESSION_FIELDS, *sorted(granted))]


def expression_allowed_at(path: Sequence[PathPart], granted: Iterable[str]) -> bool:
    return any(field_matches(path, p) for p in field_patterns(granted))
