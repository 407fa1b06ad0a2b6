"""The FHIR-like API that the browser tests call across origins.

Gunicorn loads it with ``'tests.browser.api_app:serve_app()'``. The CORS
policy comes from ``FLASK_FHIR_CORS_*`` environment variables, each holding a
JSON value, so every test server can run a different policy.

The app is a stand-in, not a FHIR server: each route sends the headers a FHIR
client reads (Location, Content-Location, ETag) and one header, X-Secret,
that no policy exposes. ``/_counts`` returns the status of each OPTIONS
request the server received and how many times a route ran, per request
target. It must run in one single-threaded worker, because the counts live
in process memory.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from flask_fhir_cors import FhirCORS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Header = tuple[str, str]

SECRET_VALUE = "not-for-pages"
COUNTS_ENDPOINT = "counts"
STATUS_BY_METHOD = {"POST": 201, "DELETE": 204}


class RequestCounts:
    """Statuses of OPTIONS requests and counts of route runs, per request target."""

    def __init__(self) -> None:
        self.options: collections.defaultdict[str, list[int]] = collections.defaultdict(
            list
        )
        self.routes: collections.Counter[str] = collections.Counter()

    def as_json(self) -> dict[str, Any]:
        """Return the counts as a JSON-ready dictionary."""
        return {"options": dict(self.options), "routes": dict(self.routes)}


def request_target(environ: WSGIEnvironment) -> str:
    """Return ``path?query`` with the ``?`` always present, as the counts key."""
    return f"{environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}"


class OptionsRecorder:
    """Record the status of every OPTIONS request, including CORS preflights.

    It wraps the CORS middleware, which responds to preflights without
    calling Flask, so no Flask hook would see them.
    """

    def __init__(self, app: WSGIApplication, counts: RequestCounts) -> None:
        self.app = app
        self.counts = counts

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "OPTIONS":
            return self.app(environ, start_response)

        statuses = self.counts.options[request_target(environ)]

        def record_status(
            status: str, headers: list[Header], exc_info: Any = None
        ) -> Any:
            statuses.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        return self.app(environ, record_status)


def serve_app() -> Flask:
    """Log each CORS refusal with its reason, then build the app for gunicorn."""
    logging.basicConfig(level=logging.DEBUG)
    return create_app()


def create_app() -> Flask:
    """Build the API app with the CORS policy from the environment."""
    counts = RequestCounts()

    app = Flask(__name__)
    app.config.from_prefixed_env()
    FhirCORS(app)
    app.wsgi_app = OptionsRecorder(app.wsgi_app, counts)  # type: ignore[method-assign]

    register_hooks(app, counts)
    register_routes(app, counts)
    return app


def register_hooks(app: Flask, counts: RequestCounts) -> None:
    """Count route runs and turn off HTTP caching of every response."""

    @app.before_request
    def count_route() -> None:
        if request.endpoint not in (None, COUNTS_ENDPOINT):
            counts.routes[request_target(request.environ)] += 1

    @app.after_request
    def forbid_caching(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response


def register_routes(app: Flask, counts: RequestCounts) -> None:
    """Add the Patient, metadata, error and counts routes."""

    @app.route(
        "/Patient/<patient_id>",
        methods=["GET", "PUT", "PATCH", "DELETE", "POST"],
    )
    def patient(patient_id: str) -> Response:
        return patient_response(patient_id)

    @app.get("/metadata")
    def metadata() -> Response:
        return jsonify({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})

    @app.get("/boom")
    def boom() -> Response:
        raise RuntimeError("route /boom fails on purpose")

    @app.get("/_counts", endpoint=COUNTS_ENDPOINT)
    def read_counts() -> Response:
        return jsonify(counts.as_json())


def patient_response(patient_id: str) -> Response:
    """Build the response to any method on one Patient, with its FHIR headers."""
    status = STATUS_BY_METHOD.get(request.method.upper(), 200)
    if status == 204:
        response = Response(status=204)
    else:
        response = jsonify({"resourceType": "Patient", "id": patient_id})
        response.status_code = status
        response.mimetype = "application/fhir+json"

    version_url = f"/Patient/{patient_id}/_history/1"
    response.headers["Location"] = version_url
    response.headers["Content-Location"] = version_url
    response.headers["ETag"] = 'W/"1"'
    response.headers["X-Secret"] = SECRET_VALUE
    return response
