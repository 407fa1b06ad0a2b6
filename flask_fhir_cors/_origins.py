"""Parsing of configured origins and matching of request origins.

A configured origin is normalized to the form a browser sends in the
``Origin`` header (RFC 6454 serialization): lowercase scheme and host, IDN
hosts in punycode, no default port. A request origin then matches only by
exact string equality, or, for a subdomain pattern such as
``https://*.example.com``, by a dictionary lookup of each of its parent
domains. Nothing is matched by prefix, suffix, substring or regular
expression over the configured list.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Collection

DEFAULT_PORTS = {"http": 80, "https": 443}

SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
DOMAIN_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")
PORT = re.compile(r"[0-9]{1,5}")

# Schemes whose pages never send an origin of their own: browsers send
# "null" for them, or use the origin of the page that opened the connection.
NON_ORIGIN_SCHEMES = frozenset(
    {"about", "blob", "data", "file", "ftp", "javascript", "mailto", "ws", "wss"}
)

# The serialized origin a browser sends for a host name: lowercase, no path,
# no user info. Request origins that do not fit never match a pattern.
REQUEST_ORIGIN = re.compile(r"([a-z][a-z0-9+.\-]*)://([a-z0-9_.\-]+)(:[0-9]{1,5})?")

# Maximum length of a request Origin value that is matched. Longer values
# match nothing.
MAX_REQUEST_ORIGIN_LENGTH = 1024

# Multi-label public suffixes where any site owner can register a subdomain.
# A pattern directly under one of these (or under a top-level domain) would
# trust every customer of the hosting service.
# NOTE: this is a short built-in sample, not the full Public Suffix List, so a
# pattern under an unlisted suffix (for example a regional second-level
# domain) is not detected.
KNOWN_PUBLIC_SUFFIXES = frozenset(
    {
        "ac.uk",
        "appspot.com",
        "azureedge.net",
        "azurefd.net",
        "azurestaticapps.net",
        "azurewebsites.net",
        "blogspot.com",
        "cloudapp.azure.com",
        "cloudfront.net",
        "co.in",
        "co.jp",
        "co.nz",
        "co.uk",
        "co.za",
        "com.au",
        "com.br",
        "com.cn",
        "com.mx",
        "firebaseapp.com",
        "fly.dev",
        "github.io",
        "gitlab.io",
        "gov.uk",
        "herokuapp.com",
        "netlify.app",
        "ngrok-free.app",
        "ngrok.io",
        "onrender.com",
        "org.uk",
        "pages.dev",
        "run.app",
        "s3.amazonaws.com",
        "vercel.app",
        "web.app",
        "web.core.windows.net",
        "workers.dev",
    }
)


class InvalidOrigin(Exception):
    """Internal signal that a configured origin is invalid."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class ConfiguredOrigin:
    """A validated origin, or a subdomain pattern when ``is_pattern`` is set.

    For a pattern, ``host`` is the parent domain without the leading ``*.``.
    """

    scheme: str
    host: str
    port: int | None
    is_pattern: bool

    @property
    def serialized(self) -> str:
        """The origin as a browser serializes it, with ``*.`` for a pattern."""
        prefix = "*." if self.is_pattern else ""
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{prefix}{self.host}{port}"

    @property
    def is_loopback(self) -> bool:
        """Whether the host is a loopback name or address."""
        host = self.host
        if host == "localhost" or host.endswith(".localhost"):
            return True

        if host.startswith("["):
            address = ipaddress.IPv6Address(host[1:-1])
            mapped = address.ipv4_mapped
            return address.is_loopback or (mapped is not None and mapped.is_loopback)

        return host.startswith("127.") and _is_ipv4(host)

    @property
    def is_under_public_suffix(self) -> bool:
        """Whether a pattern's parent domain is a top-level or public suffix."""
        return "." not in self.host or self.host in KNOWN_PUBLIC_SUFFIXES


def parse_configured_origin(entry: str) -> ConfiguredOrigin:
    """Validate and normalize one configured origin or subdomain pattern.

    Raises :class:`InvalidOrigin` with a stable code and a message that states
    how to write the value instead.
    """
    _reject_non_origin_forms(entry)
    scheme, rest = _split_scheme(entry)
    _reject_url_parts(rest)
    host_text, port = _split_port(rest)

    is_pattern = host_text.startswith("*.")
    if is_pattern:
        host_text = host_text[2:]
    if "*" in host_text:
        raise InvalidOrigin(
            "origin-wildcard",
            "a wildcard is only allowed as the whole first label, as in "
            "'https://*.example.com', or alone as '*' for any origin",
        )

    host = _normalize_host(host_text, is_pattern)
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None

    return ConfiguredOrigin(scheme, host, port, is_pattern)


def _reject_non_origin_forms(entry: str) -> None:
    if any(character.isspace() for character in entry):
        raise InvalidOrigin(
            "origin-whitespace",
            "an origin contains no whitespace; put each origin on its own line "
            "or in its own list item",
        )

    if entry.lower() == "null":
        raise InvalidOrigin(
            "origin-null",
            "the 'null' origin is sent by sandboxed frames, file: pages and "
            "redirects from any site, so allowing it would allow every site; "
            "serve the calling page from a real origin and list that origin",
        )


def _split_scheme(entry: str) -> tuple[str, str]:
    scheme, separator, rest = entry.partition("://")
    if not separator:
        raise InvalidOrigin(
            "origin-scheme-missing",
            "an origin starts with its scheme; write it as 'https://host' or "
            "'http://host:port'",
        )

    scheme = scheme.lower()
    if SCHEME.fullmatch(scheme) is None or scheme in NON_ORIGIN_SCHEMES:
        raise InvalidOrigin(
            "origin-scheme-invalid",
            "the scheme must be the scheme of the calling page, such as "
            "'https' or 'http' (or an app scheme such as 'capacitor')",
        )

    return scheme, rest


def _reject_url_parts(rest: str) -> None:
    if ";" in rest:
        raise InvalidOrigin(
            "origin-host-invalid",
            "';' is not part of an origin; separate origins with commas or newlines",
        )

    if rest.endswith("/") and rest.count("/") == 1:
        raise InvalidOrigin(
            "origin-trailing-slash",
            "browsers send origins without a trailing slash; remove the final '/'",
        )

    parts = (
        ("/", "origin-path", "an origin has no path; keep only scheme://host[:port]"),
        ("?", "origin-query", "an origin has no query; keep only scheme://host[:port]"),
        (
            "#",
            "origin-fragment",
            "an origin has no fragment; keep only scheme://host[:port]",
        ),
        (
            "@",
            "origin-userinfo",
            "an origin has no user name or password; keep only scheme://host[:port]",
        ),
    )
    for character, code, message in parts:
        if character in rest:
            raise InvalidOrigin(code, message)


def _split_port(authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        host, bracket, after = authority.partition("]")
        if not bracket:
            raise InvalidOrigin(
                "origin-host-invalid", "the IPv6 address has no closing ']'"
            )
        host += "]"
        port_text = after[1:] if after.startswith(":") else None
        if after and port_text is None:
            raise InvalidOrigin("origin-host-invalid", "text follows the IPv6 address")
    else:
        host, separator, port_text_or_empty = authority.rpartition(":")
        if not separator:
            return authority, None
        port_text = port_text_or_empty

    if port_text is None:
        return host, None

    if PORT.fullmatch(port_text) is None or not 0 < int(port_text) <= 65535:
        raise InvalidOrigin(
            "origin-port-invalid",
            "the port must be a whole number from 1 to 65535",
        )

    return host, int(port_text)


def _normalize_host(host: str, is_pattern: bool) -> str:
    if host.startswith("["):
        if is_pattern:
            raise InvalidOrigin(
                "origin-wildcard", "a subdomain pattern needs a domain name"
            )
        return _normalize_ipv6(host)

    host = _to_ascii(host)
    labels = host.split(".")
    if _looks_like_ipv4(labels):
        if is_pattern:
            raise InvalidOrigin(
                "origin-wildcard", "a subdomain pattern needs a domain name"
            )
        return _normalize_ipv4(host)

    if len(host) > 253 or not all(DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise InvalidOrigin(
            "origin-host-invalid",
            "the host must be a domain name of letters, digits and hyphens "
            "separated by single dots, or an IP address",
        )

    return host


def _to_ascii(host: str) -> str:
    if host.isascii():
        return host.lower()

    invalid = InvalidOrigin(
        "origin-host-invalid",
        "the host is not an internationalized domain name that converts to "
        "one form only; write it in punycode ('xn--...') exactly as the "
        "browser sends it",
    )
    try:
        punycode = host.encode("idna").decode("ascii").lower()
        round_trip = punycode.encode("ascii").decode("idna")
    except UnicodeError:
        raise invalid from None

    # Python's "idna" codec follows IDNA 2003, which maps characters such as
    # "ß", final sigma and zero-width joiners to others, while browsers follow
    # UTS 46 and keep them. A host that changes on the way to punycode and
    # back could therefore mean another domain than the browser's, so it is
    # rejected and the punycode form is asked for.
    if round_trip != host.lower():
        raise invalid

    return punycode


def _looks_like_ipv4(labels: list[str]) -> bool:
    # The URL standard parses a host as IPv4 when its last label is numeric.
    last = labels[-1]
    return last.isdigit() or last.startswith("0x")


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False

    return True


def _normalize_ipv4(host: str) -> str:
    if not _is_ipv4(host):
        raise InvalidOrigin(
            "origin-ip-not-canonical",
            "an IPv4 address must be written as four decimal numbers from 0 to "
            "255 without leading zeros, as browsers serialize it",
        )

    return host


def _normalize_ipv6(host: str) -> str:
    inner = host[1:-1]
    if "%" in inner:
        raise InvalidOrigin(
            "origin-host-invalid", "browsers never send an IPv6 zone in an origin"
        )

    try:
        address = ipaddress.IPv6Address(inner)
    except ValueError:
        raise InvalidOrigin(
            "origin-host-invalid", "the text in brackets is not an IPv6 address"
        ) from None

    canonical = f"[{serialize_ipv6(address)}]"
    if canonical != host.lower():
        raise InvalidOrigin(
            "origin-ip-not-canonical",
            f"browsers serialize this IPv6 address as {canonical!r}; write that",
        )

    return canonical


def serialize_ipv6(address: ipaddress.IPv6Address) -> str:
    """Serialize ``address`` as the URL standard does, as browsers send it.

    Eight hexadecimal pieces without leading zeros, the first longest run of
    two or more zero pieces written as ``::``, and never a dotted IPv4 tail.
    Python 3.13's ``compressed`` writes IPv4-mapped addresses with one, so it
    cannot be used.
    """
    packed = address.packed
    pieces = [packed[index] << 8 | packed[index + 1] for index in range(0, 16, 2)]

    best_start, best_length = -1, 1
    start = None
    for index, piece in enumerate([*pieces, 1]):
        if piece == 0 and start is None:
            start = index
        elif piece != 0 and start is not None:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = None

    texts = [f"{piece:x}" for piece in pieces]
    if best_start < 0:
        return ":".join(texts)

    head = ":".join(texts[:best_start])
    tail = ":".join(texts[best_start + best_length :])
    return f"{head}::{tail}"


class OriginMatcher:
    """Look-up of request origins against exact origins and patterns.

    Both checks cost a constant number of dictionary look-ups per label of the
    request host, whatever the number of configured origins.
    """

    __slots__ = ("_exact", "_patterns")

    def __init__(self, origins: Collection[ConfiguredOrigin]) -> None:
        self._exact = frozenset(o.serialized for o in origins if not o.is_pattern)

        # Parent domains of the patterns, by scheme and port as they appear in
        # a request origin: "https://*.example.com:8443" is stored as
        # {("https", ":8443"): {"example.com"}}.
        patterns: dict[tuple[str, str], set[str]] = {}
        for origin in origins:
            if origin.is_pattern:
                port = "" if origin.port is None else f":{origin.port}"
                patterns.setdefault((origin.scheme, port), set()).add(origin.host)
        self._patterns = {key: frozenset(hosts) for key, hosts in patterns.items()}

    def is_listed(self, origin: str) -> bool:
        """Tell whether ``origin`` is one of the exact origins, not a pattern match."""
        return origin in self._exact

    def matches(self, origin: str) -> bool:
        """Tell whether the request's ``Origin`` value is allowed."""
        if origin in self._exact:
            return True

        if not self._patterns or len(origin) > MAX_REQUEST_ORIGIN_LENGTH:
            return False

        return self._matches_pattern(origin)

    def _matches_pattern(self, origin: str) -> bool:
        parsed = REQUEST_ORIGIN.fullmatch(origin)
        if parsed is None:
            return False

        scheme, host, port = parsed.group(1, 2, 3)
        parents = self._patterns.get((scheme, port or ""))
        if parents is None:
            return False

        labels = host.split(".")
        if "" in labels:
            return False

        # The first label is the subdomain itself, so the candidates are the
        # parents from the second label on.
        return any(
            ".".join(labels[index:]) in parents for index in range(1, len(labels))
        )
