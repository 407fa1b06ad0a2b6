"""Validation and normalization of each CORS setting.

Every function here takes the raw value a user gave and returns the
normalized value, recording a :class:`Problem` for each invalid part instead
of raising, so that one :class:`PolicyError` can list every problem at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Callable

from . import _http
from ._origins import ConfiguredOrigin, InvalidOrigin, parse_configured_origin
from .errors import Problem

WILDCARD = "*"

DEFAULT_ORIGINS: tuple[str, ...] = ()
DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_HEADERS = (
    "Authorization",
    "Content-Type",
    "Prefer",
    "If-Match",
    "If-None-Match",
    "If-None-Exist",
    "If-Modified-Since",
    "X-Request-Id",
)
DEFAULT_EXPOSE_HEADERS = (
    "Location",
    "Content-Location",
    "ETag",
    "X-Request-Id",
    "X-Correlation-Id",
    "X-Progress",
    "Retry-After",
)
DEFAULT_PUBLIC_PATHS = ("/metadata", "/.well-known/smart-configuration")

# Firefox caps the preflight cache at 86400 seconds (Chromium at 7200), so a
# longer Max-Age has no effect in any browser.
MAX_AGE_LIMIT_SECONDS = 86400

# ASCII digits only: str.isdigit() also accepts superscripts and other
# scripts' digits, which int() then rejects or reads as another number.
DECIMAL_SECONDS = re.compile(r"[0-9]{1,9}")

LIST_SEPARATOR = re.compile(r"\r\n|[\r\n,]")


class ProblemCollector:
    """Problems found so far, with the user's name for each setting."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.problems: list[Problem] = []

    def assignment(self, flag: str) -> str:
        """Return how the user turns ``flag`` on, in the form they configure it."""
        name = self.names.get(flag, flag)
        return f"{name}=True" if name == flag else f"{name} = True"

    def add(self, setting: str, value: Any, code: str, message: str) -> None:
        """Record one problem against the user's name for ``setting``."""
        name = self.names.get(setting, setting)
        self.problems.append(Problem(name, value, code, message))


def split_list(
    setting: str, value: Any, collector: ProblemCollector
) -> list[str] | None:
    """Turn a list, or one string of comma- or newline-separated items, into items.

    Returns None, after recording a problem, when the value has the wrong type
    or contains an empty item.
    """
    items: list[str] | None
    if isinstance(value, str) and value.strip().startswith("["):
        items = _json_list_items(setting, value, collector)
    elif isinstance(value, str):
        text = value.strip()
        items = [item.strip() for item in LIST_SEPARATOR.split(text)] if text else []
    elif isinstance(value, (list, tuple)):
        items = _string_items(setting, value, collector)
    elif isinstance(value, (set, frozenset)):
        items = sorted(_string_items(setting, value, collector) or [])
    else:
        collector.add(
            setting,
            value,
            "type",
            f"expected a list of strings or one string with one item per line, "
            f"got {type(value).__name__}",
        )
        return None

    if items is None:
        return None

    if "" in items:
        collector.add(
            setting,
            value,
            "empty-item",
            "the list contains an empty item; remove the extra comma or blank line",
        )
        return None

    return items


def _json_list_items(
    setting: str, value: str, collector: ProblemCollector
) -> list[str] | None:
    # No origin, method, header name or path starts with "[", so such a string
    # can only be a JSON list, as environment variables often carry lists.
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        failure = f"invalid JSON ({error})"
    else:
        if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
            return [item.strip() for item in parsed]
        failure = "not a list of strings"

    collector.add(
        setting,
        value,
        "json-list-invalid",
        f"the value starts with '[' but is {failure}; write a JSON list of "
        'strings such as ["https://app.example.com"], or items separated by '
        "commas",
    )
    return None


def _string_items(
    setting: str, value: Iterable[Any], collector: ProblemCollector
) -> list[str] | None:
    items = list(value)
    wrong = [item for item in items if not isinstance(item, str)]
    if wrong:
        collector.add(
            setting,
            value,
            "type",
            f"every item must be a string, got {type(wrong[0]).__name__} {wrong[0]!r}",
        )
        return None

    return [item.strip() for item in items]


def normalize_wildcard_list(
    setting: str,
    value: Any,
    collector: ProblemCollector,
    normalize_item: Callable[[str], str | None],
    key: Callable[[str], str] = str,
) -> tuple[str, ...] | None:
    """Normalize a list that may instead be the single item ``*``.

    ``normalize_item`` returns the normalized item, or None after recording a
    problem. Duplicates, compared by ``key``, are kept once.
    """
    items = split_list(setting, value, collector)
    if items is None:
        return None

    if items == [WILDCARD]:
        return (WILDCARD,)

    if WILDCARD in items:
        collector.add(
            setting,
            value,
            "wildcard-mixed",
            "'*' already allows everything; use either '*' alone or a list without '*'",
        )

    normalized: dict[str, str] = {}
    for item in items:
        if item == WILDCARD:
            continue
        result = normalize_item(item)
        if result is not None:
            normalized.setdefault(key(result), result)

    return tuple(normalized.values())


def normalize_origins(
    value: Any, collector: ProblemCollector
) -> tuple[tuple[str, ...], tuple[ConfiguredOrigin, ...]]:
    """Validate the allowed origins; return their strings and parsed forms."""
    parsed: list[ConfiguredOrigin] = []

    def normalize_item(item: str) -> str | None:
        try:
            origin = parse_configured_origin(item)
        except InvalidOrigin as error:
            collector.add("origins", item, error.code, error.message)
            return None
        parsed.append(origin)
        return origin.serialized

    origins = normalize_wildcard_list("origins", value, collector, normalize_item)
    unique = {origin.serialized: origin for origin in parsed}
    return origins or (), tuple(unique.values())


def normalize_methods(value: Any, collector: ProblemCollector) -> tuple[str, ...]:
    """Validate the allowed methods, uppercasing the six Fetch-normalized ones."""

    def normalize_item(item: str) -> str | None:
        if not _http.is_token(item):
            collector.add(
                "methods",
                item,
                "method-invalid",
                "a method name is an HTTP token: letters, digits and !#$%&'*+-.^_`|~",
            )
            return None

        if item.upper() in _http.FORBIDDEN_METHODS:
            collector.add(
                "methods",
                item,
                "method-forbidden",
                "browsers never send CONNECT, TRACE or TRACK, and allowing them "
                "across origins invites cross-site tracing; remove it",
            )
            return None

        if item.upper() in _http.NORMALIZED_METHODS:
            return item.upper()
        return item

    methods = normalize_wildcard_list("methods", value, collector, normalize_item)
    return methods or ()


def normalize_headers(value: Any, collector: ProblemCollector) -> tuple[str, ...]:
    """Validate the allowed request headers."""

    def normalize_item(item: str) -> str | None:
        if not _check_header_name("headers", item, collector):
            return None

        if _http.is_forbidden_request_header(item):
            collector.add(
                "headers",
                item,
                "header-forbidden",
                "browsers never let a page set this header, so listing it allows "
                "nothing; remove it",
            )
            return None
        return item

    headers = normalize_wildcard_list(
        "headers", value, collector, normalize_item, str.lower
    )
    return headers or ()


def normalize_expose_headers(
    value: Any, collector: ProblemCollector
) -> tuple[str, ...]:
    """Validate the response headers that pages may read."""

    def normalize_item(item: str) -> str | None:
        if not _check_header_name("expose_headers", item, collector):
            return None

        if item.lower() in _http.FORBIDDEN_RESPONSE_HEADERS:
            collector.add(
                "expose_headers",
                item,
                "expose-forbidden",
                "browsers never expose Set-Cookie to a page; remove it",
            )
            return None
        return item

    headers = normalize_wildcard_list(
        "expose_headers", value, collector, normalize_item, str.lower
    )
    return headers or ()


def _check_header_name(setting: str, item: str, collector: ProblemCollector) -> bool:
    if _http.is_token(item):
        return True

    collector.add(
        setting,
        item,
        "header-invalid",
        "a header name is an HTTP token: letters, digits and !#$%&'*+-.^_`|~, "
        "with no spaces or colons",
    )
    return False


def normalize_max_age(value: Any, collector: ProblemCollector) -> int | None:
    """Validate the preflight cache time in whole seconds, or None for no header."""
    if value is None:
        return None

    seconds = value
    if isinstance(value, str) and DECIMAL_SECONDS.fullmatch(value.strip()):
        seconds = int(value.strip())

    if isinstance(seconds, bool) or not isinstance(seconds, int):
        collector.add(
            "max_age",
            value,
            "max-age-type",
            "expected whole seconds as an integer, or None to send no Max-Age "
            "(browsers then cache a preflight for 5 seconds)",
        )
        return None

    if not 0 <= seconds <= MAX_AGE_LIMIT_SECONDS:
        collector.add(
            "max_age",
            value,
            "max-age-range",
            f"expected 0 to {MAX_AGE_LIMIT_SECONDS} seconds; 0 turns the preflight "
            f"cache off and browsers ignore more than {MAX_AGE_LIMIT_SECONDS}",
        )
        return None

    return seconds


def normalize_flag(setting: str, value: Any, collector: ProblemCollector) -> bool:
    """Validate a boolean setting, accepting 'true' and 'false' from the environment."""
    if isinstance(value, bool):
        return value

    # Flask's from_prefixed_env turns FLASK_X=1 into the integer 1.
    if isinstance(value, int) and value in (0, 1):
        return value == 1

    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False

    collector.add(
        setting,
        value,
        "flag-type",
        "expected True or False (or 'true', 'false', 1 or 0)",
    )
    return False


def normalize_public_paths(value: Any, collector: ProblemCollector) -> tuple[str, ...]:
    """Validate the paths that any origin may read without credentials."""
    items = split_list("public_paths", value, collector)
    if items is None:
        return ()

    paths: dict[str, None] = {}
    for item in items:
        problem = _public_path_problem(item)
        if problem is None:
            paths.setdefault(item)
        else:
            collector.add("public_paths", item, "public-path-invalid", problem)

    return tuple(paths)


def _public_path_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return "a public path starts with '/', such as '/metadata'"

    if path == "/":
        return (
            "'/' would make every path public; list the public paths one by "
            "one, or set origins to '*' if the whole API is public"
        )

    if any(character in path for character in "?#%*") or any(
        (character.isspace() and character != " ") or not character.isprintable()
        for character in path
    ):
        return (
            "write the decoded path with no query, fragment, percent-encoding, "
            "wildcard or control character, such as '/files/shared docs/'"
        )

    segments = path.split("/")[1:]
    if any(segment in (".", "..") for segment in segments) or "//" in path:
        return "a public path has no '.', '..' or empty segments"

    return None
