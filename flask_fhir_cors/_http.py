"""HTTP and Fetch vocabulary shared by the policy builder and the middleware."""

from __future__ import annotations

import re

# RFC 9110 token: the syntax of method and header field names.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# Fetch normalizes only these method names to uppercase, so a page that calls
# fetch() with "delete" sends DELETE but one that calls it with "patch" sends
# "patch". Every other method name is compared case-sensitively.
NORMALIZED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})

# CORS-safelisted methods never need to be listed in Allow-Methods.
SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})

# Fetch's forbidden methods: a browser never sends them, compared without case.
FORBIDDEN_METHODS = frozenset({"CONNECT", "TRACE", "TRACK"})

# Fetch's forbidden request header names, lowercased. A page can never set
# them, so listing one in the allowed headers allows nothing.
FORBIDDEN_REQUEST_HEADERS = frozenset(
    {
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "access-control-request-private-network",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "permissions-policy",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
    }
)
FORBIDDEN_REQUEST_HEADER_PREFIXES = ("proxy-", "sec-")

# Fetch's forbidden response header names: a page can never read them.
FORBIDDEN_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})


def is_token(value: str) -> bool:
    """Tell whether ``value`` is a non-empty RFC 9110 token."""
    return TOKEN.fullmatch(value) is not None


def is_forbidden_request_header(name: str) -> bool:
    """Tell whether a page can never set the header ``name`` itself."""
    lowered = name.lower()
    if lowered in FORBIDDEN_REQUEST_HEADERS:
        return True

    return lowered.startswith(FORBIDDEN_REQUEST_HEADER_PREFIXES)
