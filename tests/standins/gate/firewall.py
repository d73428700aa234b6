"""What stands in front of Gate's controllers: Tomcat's URI decoding and Spring Security's StrictHttpFirewall.

A request path Gate will not route never reaches a controller. Two layers refuse it, in this order:

1. Tomcat 9.0.x (`CoyoteAdapter.postParseRequest`, embedded in Gate through Spring Boot 2.7 / kork): an encoded
   slash (`%2F`, `encodedSolidusHandling` "reject"), a backslash or `%5C` (`ALLOW_BACKSLASH` false), a NUL byte or
   a `..` above the root make the URI invalid: 400 with Tomcat's HTML error page, before any filter runs.
2. Spring Security's `StrictHttpFirewall` (spring-security 5.7/5.8, not customised anywhere in gate): the raw URI
   may not contain `;` `%3B` `%2F` `//` `\\` `%5C` `%00` `%0A` `%0D` `%25` `%2E` (and their lowercase forms), the
   decoded path may not contain `%` (or any of the above, or U+2028/U+2029), and neither may have a `.` or `..`
   segment. `FilterChainProxy`'s `DefaultRequestRejectedHandler` rethrows the `RequestRejectedException`, Tomcat
   forwards it to `/error`, and kork's `GenericErrorController` answers 500 with Spring Boot's error attributes
   minus `path`.

When a path holds several forbidden strings, Java's HashSet order decides which one Spring names; this checks
them in a fixed order, so only the status and the message's shape are guaranteed to match.
"""

from __future__ import annotations

import time

from aiohttp import web

REJECTED_EXCEPTION = "org.springframework.security.web.firewall.RequestRejectedException"
ALLOWED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
# StrictHttpFirewall's constructor: these are blocked in both the raw and the decoded path.
_BOTH = (
    *(";", "%3b", "%3B"),
    *("%2f", "%2F"),
    *("//", "%2f%2f", "%2f%2F", "%2F%2f", "%2F%2F"),
    *("\\", "%5c", "%5C"),
    *("\0", "%00"),
    *("\n", "%0a", "%0A"),
    *("\r", "%0d", "%0D"),
)
ENCODED_BLOCKLIST = (*_BOTH, "%25", "%2e", "%2E")
DECODED_BLOCKLIST = (*_BOTH, "%", "\u2028", "\u2029")
TOMCAT_400_BODY = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 400 \u2013 Bad Request</title></head>'
    "<body><h1>HTTP Status 400 \u2013 Bad Request</h1></body></html>"
)


class _InvalidUri(Exception):
    """Tomcat refuses the URI before Spring sees it."""


def _strip_path_parameters(raw: str) -> str:
    """Tomcat's parsePathParameters: `;name=value` up to the next `/` is not part of the path."""
    return "/".join(segment.split(";", 1)[0] for segment in raw.split("/"))


def _url_decode(raw: str) -> bytes:
    """Tomcat's UDecoder with encodedSolidusHandling "reject"."""
    out = bytearray()
    data = raw.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == ord("%"):
            hex_digits = data[i + 1 : i + 3]
            try:
                value = int(hex_digits, 16) if len(hex_digits) == 2 else -1
            except ValueError:
                value = -1
            if value < 0:
                raise _InvalidUri("isHexDigit")
            if value == ord("/"):
                raise _InvalidUri("noSlash")
            out.append(value)
            i += 3
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def _normalize(path: bytes) -> bytes:
    """Tomcat's CoyoteAdapter.normalize with ALLOW_BACKSLASH false: merge `//`, resolve `.` and `..`."""
    if not path.startswith(b"/") or b"\\" in path or b"\0" in path:
        raise _InvalidUri("invalidURI")
    while b"//" in path:
        path = path.replace(b"//", b"/")
    if path.endswith((b"/.", b"/..")):
        path += b"/"
    out: list[bytes] = []
    for segment in path.split(b"/")[1:]:
        if segment == b".":
            continue
        if segment == b"..":
            if not out:
                raise _InvalidUri("invalidURI")
            out.pop()
            continue
        out.append(segment)
    return b"/" + b"/".join(out)


def _is_normalized(path: str) -> bool:
    """StrictHttpFirewall.isNormalized: no `.` or `..` segment."""
    return all(segment not in (".", "..") for segment in path.split("/"))


def _rejected(message: str) -> web.Response:
    body = {
        "timestamp": int(time.time() * 1000),
        "status": 500,
        "error": "Internal Server Error",
        "exception": REJECTED_EXCEPTION,
        "message": message,
    }
    return web.json_response(body, status=500)


def refusal(method: str, raw_target: str) -> web.Response | None:
    """The answer Gate gives before routing `method raw_target`, or None when the request gets through."""
    request_uri = raw_target.split("?", 1)[0]
    try:
        servlet_path = _normalize(_url_decode(_strip_path_parameters(request_uri))).decode("utf-8", "replace")
    except _InvalidUri:
        return web.Response(status=400, text=TOMCAT_400_BODY, content_type="text/html", charset="utf-8")
    if method not in ALLOWED_METHODS:
        return _rejected(
            f'The request was rejected because the HTTP method "{method}" was not included within the list of '
            f"allowed HTTP methods {sorted(ALLOWED_METHODS)}"
        )
    checks = [*((f, request_uri) for f in ENCODED_BLOCKLIST), *((f, servlet_path) for f in DECODED_BLOCKLIST)]
    for forbidden, value in checks:
        if forbidden in value:
            return _rejected(
                f'The request was rejected because the URL contained a potentially malicious String "{forbidden}"'
            )
    if not (_is_normalized(request_uri) and _is_normalized(servlet_path)):
        return _rejected("The request was rejected because the URL was not normalized.")
    if any(not " " <= ch <= "~" for ch in request_uri):
        return _rejected("The requestURI was rejected because it can only contain printable ASCII characters.")
    return None
