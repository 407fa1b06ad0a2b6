"""Apps that the server tests run under gunicorn and waitress, by import path.

``compliance_app`` is a plain WSGI app behind :class:`CORSMiddleware` whose
routes return each kind of body iterable. ``fhir_app`` is a small Flask FHIR
server with :class:`FhirCORS` whose reads are cacheable by a shared cache and
counted, so a test can tell a cache hit from a request that reached the app.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, Response, jsonify, request

from flask_fhir_cors import CORSMiddleware, CORSPolicy, FhirCORS

ALLOWED_ORIGIN = "https://app.example.com"
SECOND_ORIGIN = "https://admin.example.com"
DISALLOWED_ORIGIN = "https://evil.example.net"

POLICY_SETTINGS: dict[str, Any] = {
    "origins": [ALLOWED_ORIGIN, SECOND_ORIGIN],
    "methods": ["GET", "POST", "PUT", "DELETE"],
    "headers": ["Authorization", "Content-Type"],
    "expose_headers": ["ETag", "Location"],
    "max_age": 600,
}

BODY_CHUNKS = (b"first chunk\n", b"second chunk\n", b"third chunk\n")
CACHE_CONTROL = "public, max-age=600"


def plain_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Return the same body as a list, a generator or a file wrapper, by path."""
    path = environ.get("PATH_INFO", "")
    headers = [("Content-Type", "text/plain"), ("Vary", "Accept-Encoding")]
    start_response("200 OK", headers)

    if path == "/generator":
        return generate_chunks()

    if path == "/file":
        wrapper = environ.get("wsgi.file_wrapper")
        body = io.BytesIO(b"".join(BODY_CHUNKS))
        if wrapper is None:
            return [body.read()]
        return wrapper(body, 8)

    return list(BODY_CHUNKS)


def generate_chunks() -> Iterator[bytes]:
    yield from BODY_CHUNKS


compliance_app = CORSMiddleware(plain_app, CORSPolicy(**POLICY_SETTINGS))


class HitCounter:
    """Requests that reached the app, by path, safe across worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, path: str) -> None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1

    def get(self, path: str) -> int:
        with self._lock:
            return self._counts.get(path, 0)


def create_fhir_app() -> Flask:
    """Build the Flask FHIR server: cacheable reads, and a count of app hits."""
    app = Flask(__name__)
    app.config.update(
        {f"FHIR_CORS_{name.upper()}": value for name, value in POLICY_SETTINGS.items()}
    )
    FhirCORS(app)
    hits = HitCounter()

    @app.get("/Patient/<patient_id>")
    def read_patient(patient_id: str) -> Response:
        hits.add(request.path)
        response = jsonify({"resourceType": "Patient", "id": patient_id})
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response

    @app.get("/metadata")
    def read_metadata() -> Response:
        hits.add(request.path)
        response = jsonify(
            {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}
        )
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response

    @app.get("/hits")
    def count_hits() -> Response:
        response = jsonify(
            {"path": request.args["path"], "hits": hits.get(request.args["path"])}
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


fhir_app = create_fhir_app()
