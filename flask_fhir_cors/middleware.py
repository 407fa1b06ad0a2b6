"""A WSGI middleware that applies a :class:`CORSPolicy` to every request."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._compiled import Header
from .decision import DEBUG_REASON_HEADER as DEBUG_REASON_HEADER
from .decision import (
    PREFLIGHT,
    Decision,
    decide_compiled,
    preflight_response,
)
from .policy import CORSPolicy

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("flask_fhir_cors")

_SPECIAL_INITIALS = frozenset("aAvV")

# Request values written to debug log records are cut to this many characters.
MAX_LOGGED_VALUE_LENGTH = 200


class CORSMiddleware:
    """Respond to CORS preflights and add CORS headers to the app's responses.

    A preflight (``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``) gets its response here and never reaches
    ``app``: 204 with the CORS headers when the policy allows it, 403 without
    them when it does not. Every other request runs ``app`` exactly once;
    its response gets the CORS headers the policy grants, in place of any
    ``Access-Control-*`` headers the app set, and ``Vary: Origin`` is
    appended whenever the answer depends on the request's origin.

    The app's iterable is returned as it is, so the body streams and
    ``close()`` and ``wsgi.file_wrapper`` keep working.
    """

    def __init__(self, app: WSGIApplication, policy: CORSPolicy) -> None:
        if not isinstance(policy, CORSPolicy):
            raise TypeError(
                f"CORSMiddleware needs a CORSPolicy, got {type(policy).__name__}; "
                "build one with CORSPolicy(origins=[...])"
            )

        self.app = app
        self.policy = policy
        self._compiled = policy._compiled  # type: ignore[attr-defined]

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        origin = environ.get("HTTP_ORIGIN")
        if method == "OPTIONS":
            decision = decide_compiled(
                self._compiled,
                method,
                environ.get("PATH_INFO", ""),
                origin,
                environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"),
                environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"),
                environ.get("HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK"),
            )
        else:
            # Only a preflight reads the Access-Control-Request-* headers.
            decision = decide_compiled(
                self._compiled, method, environ.get("PATH_INFO", ""), origin
            )

        if decision.kind == PREFLIGHT:
            return self._answer_preflight(environ, decision, start_response)

        if not decision.allowed:
            _log_refusal("Origin not allowed", environ, decision)

        def start_cors_response(
            status: str, headers: list[Header], exc_info: Any = None
        ) -> Any:
            cors_headers = rewrite_headers(headers, decision.headers, decision.vary)
            return start_response(status, cors_headers, exc_info)

        return self.app(environ, start_cors_response)

    def _answer_preflight(
        self,
        environ: WSGIEnvironment,
        decision: Decision,
        start_response: StartResponse,
    ) -> list[bytes]:
        if not decision.allowed:
            _log_refusal("CORS preflight refused", environ, decision)

        response = preflight_response(decision, self._compiled.debug)
        start_response(response.status, response.headers)
        if decision.allowed:
            return []
        return [response.body]


def rewrite_headers(
    app_headers: list[Header], cors_headers: tuple[Header, ...], vary: str
) -> list[Header]:
    """Return the app's headers with its CORS headers replaced and Vary merged.

    Every ``Access-Control-*`` header the app set is dropped, so the policy
    alone decides them and none appears twice. The app's ``Vary`` values are
    kept and ``vary`` is appended, in one ``Vary`` header.
    """
    # Most apps set neither Access-Control-* nor Vary headers. Only names
    # starting with A or V can be one, so the common case is a plain copy.
    for name, _ in app_headers:
        if name[:1] in _SPECIAL_INITIALS:
            return _rewrite_special_headers(app_headers, cors_headers, vary)

    result = [*app_headers, *cors_headers]
    if vary:
        result.append(("Vary", vary))
    return result


def _rewrite_special_headers(
    app_headers: list[Header], cors_headers: tuple[Header, ...], vary: str
) -> list[Header]:
    result: list[Header] = []
    app_vary: list[str] = []
    for name, value in app_headers:
        lowered = name.lower()
        if lowered.startswith("access-control-"):
            continue
        if lowered == "vary":
            app_vary.append(value)
            continue
        result.append((name, value))

    result.extend(cors_headers)
    merged = merge_vary(app_vary, vary)
    if merged:
        result.append(("Vary", merged))
    return result


def merge_vary(app_values: list[str], extra: str) -> str:
    """Append the comma-separated tokens of ``extra`` to the app's Vary values."""
    if not app_values:
        return extra

    present = {
        token.strip().lower() for value in app_values for token in value.split(",")
    }
    present.discard("")
    if "*" in present:
        return "*"

    missing = [
        token for token in extra.split(", ") if token and token.lower() not in present
    ]
    kept = [value.strip() for value in app_values if value.strip()]
    return ", ".join([*kept, *missing])


def _log_refusal(message: str, environ: WSGIEnvironment, decision: Decision) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return

    logger.debug(
        "%s (%s): origin=%r method=%r request_method=%r request_headers=%r path=%r",
        message,
        decision.reason,
        _shorten(environ.get("HTTP_ORIGIN")),
        _shorten(environ.get("REQUEST_METHOD")),
        _shorten(environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")),
        _shorten(environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")),
        _shorten(environ.get("PATH_INFO")),
    )


def _shorten(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_LOGGED_VALUE_LENGTH:
        return value
    return value[:MAX_LOGGED_VALUE_LENGTH] + "..."
