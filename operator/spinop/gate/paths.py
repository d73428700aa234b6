"""Gate URL paths: which values can be a path segment at all.

In front of Gate's controllers, Tomcat refuses an encoded slash, a backslash and a NUL (400), and Spring Security's
StrictHttpFirewall, which gate does not customise, refuses `;`, `%25`, `%2F`, `%5C`, `%00`, `%0A`, `%0D`, `%2E`,
U+2028, U+2029 and `.`/`..` segments (500). A name holding any of these can be saved (it travels in a JSON body) but
never addressed in a path, e.g. never deleted by `DELETE /pipelines/{app}/{name}`.
"""

from __future__ import annotations

from urllib.parse import quote

# What `quote(segment, safe="")` turns each unroutable character into, and how a message names it.
_UNROUTABLE_CHARACTERS = {
    "/": "'/'",
    "\\": "'\\'",
    ";": "';'",
    "%": "'%'",
    "\0": "NUL",
    "\n": "a line feed",
    "\r": "a carriage return",
    "\u2028": "U+2028",
    "\u2029": "U+2029",
}


def segment(value: str) -> str:
    """`value` percent-encoded as one path segment (every reserved character encoded)."""
    return quote(value, safe="")


def unroutable_reason(value: str) -> str | None:
    """Why Gate would refuse `value` as a path segment before reaching a controller, or None when it is routable."""
    if value in ("", ".", ".."):
        return f"{value!r} is not a path segment Gate accepts (an empty, '.' or '..' segment)"
    found = [shown for char, shown in _UNROUTABLE_CHARACTERS.items() if char in value]
    if found:
        return (
            f"{value!r} contains {', '.join(found)}, which Gate refuses in a URL path (Tomcat and Spring Security's "
            "StrictHttpFirewall answer 400/500 before any controller)"
        )
    return None
