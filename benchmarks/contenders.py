"""The FHIR test app and the CORS layers that the benchmark compares.

Every contender wraps its own fresh copy of the same Flask app and gets the same
CORS configuration: allowed origins, subdomain patterns, methods, request headers
and exposed headers. Each contender is returned as the Flask app itself, so the
benchmark and gunicorn call every one of them the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import wsgicors
from flask import Flask, Response, request
from flask_cors import CORS

from flask_fhir_cors import CORSMiddleware, CORSPolicy

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

BARE = "bare"
FLOOR = "floor"
FLASK_CORS = "flask-cors"
WSGICORS = "wsgicors"
PRODUCT = "flask-fhir-cors"
CONTENDERS = (BARE, FLOOR, FLASK_CORS, WSGICORS, PRODUCT)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
REQUEST_HEADERS = ("Authorization", "Content-Type")
EXPOSE_HEADERS = ("Location", "ETag")
FHIR_JSON = "application/fhir+json"

# The allowed origin that the one-origin workloads send.
APP_ORIGIN = "https://app.example.com"


@dataclass(frozen=True)
class CorsConfig:
    """Allowed origins: exact origins plus subdomain patterns.

    A pattern has the form ``https://*.tenant1.example.com`` and allows every
    subdomain of ``tenant1.example.com`` over that scheme.
    """

    origins: tuple[str, ...]
    patterns: tuple[str, ...] = ()


ONE_ORIGIN = CorsConfig(origins=(APP_ORIGIN,))


def create_fhir_app() -> Flask:
    """Create a Flask app with JSON GET and PUT routes on ``/Patient/<id>``."""
    app = Flask(__name__)

    @app.get("/Patient/<patient_id>")
    def read_patient(patient_id: str) -> Response:
        resource = {"resourceType": "Patient", "id": patient_id, "active": True}
        return _fhir_response(resource)

    @app.put("/Patient/<patient_id>")
    def update_patient(patient_id: str) -> Response:
        resource = request.get_json(force=True)
        resource["id"] = patient_id
        return _fhir_response(resource)

    return app


def _fhir_response(resource: dict[str, Any]) -> Response:
    return Response(json.dumps(resource), mimetype=FHIR_JSON)


def create_app(contender: str, config: CorsConfig = ONE_ORIGIN) -> Flask:
    """Create the FHIR app with the named contender's CORS layer installed.

    Gunicorn calls this as an app factory, so the one-origin configuration is
    the default.
    """
    app = create_fhir_app()
    if contender == BARE:
        return app

    if contender == FLASK_CORS:
        _install_flask_cors(app, config)
        return app

    wrappers = {
        FLOOR: FloorMiddleware,
        WSGICORS: _wrap_wsgicors,
        PRODUCT: wrap_product,
    }
    if contender not in wrappers:
        raise ValueError(
            f"unknown contender {contender!r}, expected one of {CONTENDERS}"
        )

    app.wsgi_app = wrappers[contender](app.wsgi_app, config)  # type: ignore[method-assign]
    return app


def wrap_product(app: WSGIApp, config: CorsConfig) -> CORSMiddleware:
    """Wrap ``app`` in flask-fhir-cors, passing subdomain patterns as origins."""
    policy = CORSPolicy(
        origins=list(config.origins + config.patterns),
        methods=list(METHODS),
        headers=list(REQUEST_HEADERS),
        expose_headers=list(EXPOSE_HEADERS),
    )
    return CORSMiddleware(app, policy)


def _install_flask_cors(app: Flask, config: CorsConfig) -> None:
    # flask-cors has no subdomain patterns, so each one becomes a compiled regex.
    # always_send=False stops flask-cors from sending Access-Control-Allow-Origin
    # on requests without an Origin header, which no other contender does.
    patterns = [pattern_to_regex(pattern) for pattern in config.patterns]
    CORS(
        app,
        origins=[*config.origins, *patterns],
        methods=list(METHODS),
        allow_headers=list(REQUEST_HEADERS),
        expose_headers=list(EXPOSE_HEADERS),
        always_send=False,
    )


def _wrap_wsgicors(app: WSGIApp, config: CorsConfig) -> wsgicors.CORS:
    # wsgicors takes a space-separated origin list and matches each entry with
    # fnmatch, so a subdomain pattern works unchanged. Its "*" also matches dots
    # and slashes, which makes it looser than the other contenders' patterns.
    return wsgicors.CORS(
        app,
        origin=" ".join(config.origins + config.patterns),
        methods=", ".join(METHODS),
        headers=", ".join(REQUEST_HEADERS),
        expose_headers=", ".join(EXPOSE_HEADERS),
    )


def pattern_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile ``https://*.example.com`` into a regex matching its subdomains."""
    scheme, _, parent = pattern.partition("://*.")
    labels = r"[a-z0-9-]+(?:\.[a-z0-9-]+)*"
    source = f"{re.escape(scheme)}://{labels}\\.{re.escape(parent)}\\Z"
    return re.compile(source, re.IGNORECASE)


class FloorMiddleware:
    """Minimal CORS middleware, the lower bound for what any CORS layer costs.

    It looks the origin up in a dict and adds Access-Control-Allow-Origin and
    Vary to allowed actual requests. It responds to an allowed preflight with a
    fixed 204 and rejects any other preflight with a fixed 403. It checks neither
    the requested method nor the requested headers, so it is not a usable CORS
    implementation.
    """

    def __init__(self, app: WSGIApp, config: CorsConfig) -> None:
        self.app = app
        self.allowed = dict.fromkeys(config.origins + config.patterns, True)
        self.match_subdomains = bool(config.patterns)
        self.preflight_headers = [
            ("Access-Control-Allow-Methods", ", ".join(METHODS)),
            ("Access-Control-Allow-Headers", ", ".join(REQUEST_HEADERS)),
            ("Vary", "Origin"),
        ]

    def __call__(self, environ: Environ, start_response: StartResponse) -> Any:
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return self.app(environ, start_response)

        is_allowed = self._is_allowed(origin)
        is_preflight = (
            environ["REQUEST_METHOD"] == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        )
        if is_preflight:
            return self._respond_to_preflight(origin, is_allowed, start_response)

        if not is_allowed:
            return self.app(environ, start_response)

        def start_with_cors(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            headers.append(("Access-Control-Allow-Origin", origin))
            headers.append(("Vary", "Origin"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_cors)

    def _is_allowed(self, origin: str) -> bool:
        if origin in self.allowed:
            return True

        if not self.match_subdomains:
            return False

        # One more dict lookup: "https://a.tenant1.example.com" becomes
        # "https://*.tenant1.example.com". Deeper subdomains are not matched.
        scheme, _, host = origin.partition("://")
        parent = host.partition(".")[2]
        return f"{scheme}://*.{parent}" in self.allowed

    def _respond_to_preflight(
        self, origin: str, is_allowed: bool, start_response: StartResponse
    ) -> list[bytes]:
        if is_allowed:
            headers = [("Access-Control-Allow-Origin", origin), *self.preflight_headers]
            start_response("204 No Content", headers)
        else:
            start_response("403 Forbidden", [])
        return []
