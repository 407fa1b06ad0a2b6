"""Demo FHIR API with in-memory Patient resources, wrapped by FhirCORS.

Run it with ``gunicorn --workers 1 --threads 4 examples.fhir_server:app``. Patients
live in process memory and are lost at exit. Each gunicorn worker process has its own
store, so use one worker with several threads.

The CORS policy allows only the demo client's origin, taken from the environment
variable DEMO_CLIENT_ORIGIN (default ``http://127.0.0.1:8001``). A FLASK_FHIR_CORS_*
environment variable overrides the FHIR_CORS_* setting of the same name, for example
``FLASK_FHIR_CORS_ORIGINS='["http://127.0.0.1:9000"]'``.

/Patient routes require ``Authorization: Bearer <token>``, so the browser client has
to send a non-safelisted request header across origins. Any non-empty token is
accepted because the demo does not implement OAuth.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.datastructures import ETags, WWWAuthenticate
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    NotFound,
    PreconditionFailed,
    Unauthorized,
    UnsupportedMediaType,
)
from werkzeug.http import http_date

from flask_fhir_cors import FhirCORS

Resource = dict[str, Any]

FHIR_JSON = "application/fhir+json"
DEFAULT_CLIENT_ORIGIN = "http://127.0.0.1:8001"
MAX_REQUEST_BYTES = 1024 * 1024
STORE_KEY = "demo_patient_store"

# FHIR R4 id datatype: 1 to 64 characters from letters, digits, "-" and ".".
FHIR_ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# OperationOutcome.issue.code for each HTTP error status (FHIR R4 IssueType).
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
}


class VersionConflict(Exception):
    """Raised when an If-Match precondition does not name the stored version."""


class PatientStore:
    """Thread-safe in-memory map from Patient id to the current Patient version.

    Version ids are "1", "2", ... per Patient. Every method copies resources in and
    out, so callers never share the dicts that the store keeps.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patients: dict[str, Resource] = {}

    def create(self, resource: Resource) -> Resource:
        """Store `resource` as version 1 under a new id and return the stored copy."""
        patient_id = str(uuid.uuid4())
        with self._lock:
            return self._save(patient_id, resource, version=1)

    def read(self, patient_id: str) -> Resource | None:
        with self._lock:
            patient = self._patients.get(patient_id)
            return copy.deepcopy(patient)

    def search(self, name: str | None = None) -> list[Resource]:
        """Return all Patients in creation order, or those whose name contains `name`.

        The name match is a case-insensitive substring test on HumanName.text,
        family and given, which is looser than the FHIR ``name`` search parameter.
        """
        with self._lock:
            patients = copy.deepcopy(list(self._patients.values()))

        if not name:
            return patients
        needle = name.casefold()
        return [p for p in patients if needle in _name_text(p).casefold()]

    def update(
        self, patient_id: str, resource: Resource, if_match: ETags
    ) -> tuple[Resource, bool]:
        """Replace or create Patient `patient_id` and return it with a created flag.

        Raises VersionConflict when an If-Match header was sent and it does not name
        the current version, which includes every If-Match on a Patient that does
        not exist.
        """
        with self._lock:
            current = self._patients.get(patient_id)
            current_version = current["meta"]["versionId"] if current else None

            if if_match and not _if_match_allows(if_match, current_version):
                raise VersionConflict(
                    _version_conflict_message(if_match, patient_id, current_version)
                )

            version = int(current_version) + 1 if current_version else 1
            return self._save(patient_id, resource, version), current is None

    def delete(self, patient_id: str) -> bool:
        """Remove the Patient and return whether it existed."""
        with self._lock:
            return self._patients.pop(patient_id, None) is not None

    def _save(self, patient_id: str, resource: Resource, version: int) -> Resource:
        # The caller holds self._lock.
        stored = copy.deepcopy(resource)
        stored["id"] = patient_id
        stored["meta"] = {
            **stored.get("meta", {}),
            "versionId": str(version),
            "lastUpdated": datetime.now(timezone.utc).isoformat(
                timespec="milliseconds"
            ),
        }
        self._patients[patient_id] = stored
        return copy.deepcopy(stored)


def _name_text(patient: Resource) -> str:
    parts: list[str] = []
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        parts.append(str(name.get("text", "")))
        parts.append(str(name.get("family", "")))
        parts.extend(str(given) for given in name.get("given") or [])
    return " ".join(parts)


def _if_match_allows(if_match: ETags, version: str | None) -> bool:
    # FHIR servers send weak ETags (W/"3") and clients send them back in If-Match,
    # so this uses weak comparison although RFC 9110 requires strong comparison.
    # contains_weak() also accepts "*", which matches any existing version.
    if version is None:
        return False
    return if_match.contains_weak(version)


def _version_conflict_message(
    if_match: ETags, patient_id: str, current_version: str | None
) -> str:
    sent = if_match.to_header()
    if current_version is None:
        return (
            f"If-Match {sent} does not match because Patient/{patient_id} "
            "does not exist."
        )
    return (
        f"If-Match {sent} does not match the current ETag "
        f"{format_etag(current_version)} of Patient/{patient_id}."
    )


def format_etag(version: str) -> str:
    return f'W/"{version}"'


# Responses


def fhir_response(
    body: Resource | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Build a response with a FHIR JSON body, or an empty one when `body` is None."""
    if body is None:
        response = Response(status=status, headers=headers)
        del response.headers["Content-Type"]
        return response
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers,
        mimetype=FHIR_JSON,
    )


def resource_response(
    resource: Resource, status: int, headers: dict[str, str] | None = None
) -> Response:
    """Return `resource` with its ETag and Last-Modified, honouring Prefer: return.

    ``Prefer: return=minimal`` drops the body and ``return=OperationOutcome`` is
    treated as representation, because this demo has no informational outcome.
    """
    meta = resource["meta"]
    last_updated = datetime.fromisoformat(meta["lastUpdated"])
    all_headers = {
        "ETag": format_etag(meta["versionId"]),
        "Last-Modified": http_date(last_updated),
        **(headers or {}),
    }

    if "return=minimal" in request.headers.get("Prefer", ""):
        return fhir_response(None, status, all_headers)
    return fhir_response(resource, status, all_headers)


def history_location(resource: Resource) -> str:
    return f"/Patient/{resource['id']}/_history/{resource['meta']['versionId']}"


def operation_outcome(
    status: int, diagnostics: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Build an error response whose body is a one-issue OperationOutcome."""
    default_code = "exception" if status >= 500 else "processing"
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": ISSUE_CODES.get(status, default_code),
                "diagnostics": diagnostics,
            }
        ],
    }
    response = fhir_response(body, status)
    for name, value in headers or []:
        response.headers[name] = value
    return response


def handle_http_exception(error: HTTPException) -> Response:
    """Turn any HTTP error, including unknown routes and 500s, into an OperationOutcome.

    Headers that the error defines, such as Allow on 405 and WWW-Authenticate on
    401, are kept.
    """
    status = error.code or 500
    diagnostics = error.description or error.name
    if error is request.routing_exception:
        diagnostics = (
            f"{request.method} {request.path} is not supported by this server."
        )

    headers = [
        (name, value)
        for name, value in error.get_headers()
        if name.lower() != "content-type"
    ]
    return operation_outcome(status, diagnostics, headers)


def add_common_headers(response: Response) -> Response:
    """Mark every app response as not cacheable and tag it with a request id.

    The request id is the client's X-Request-Id when it sent a short printable one,
    otherwise a new UUID.
    """
    response.headers["Cache-Control"] = "no-store"

    request_id = request.headers.get("X-Request-Id", "")
    if not (0 < len(request_id) <= 200 and request_id.isprintable()):
        request_id = str(uuid.uuid4())
    response.headers["X-Request-Id"] = request_id
    return response


# Request parsing


def parse_patient_body() -> Resource:
    """Parse the request body as a Patient, raising 415 or 400 when it is not one."""
    if request.mimetype not in (FHIR_JSON, "application/json"):
        received = request.mimetype or "none"
        raise UnsupportedMediaType(
            f"Content-Type {received} is not supported. Send {FHIR_JSON}."
        )

    try:
        body = json.loads(request.get_data())
    except ValueError as error:
        raise BadRequest(f"Request body is not valid JSON: {error}.") from error

    if not isinstance(body, dict) or body.get("resourceType") != "Patient":
        raise BadRequest(
            'Request body must be a JSON object with "resourceType": "Patient".'
        )
    if not isinstance(body.get("meta", {}), dict):
        raise BadRequest("Patient.meta must be a JSON object.")
    return body


def patient_store() -> PatientStore:
    store: PatientStore = current_app.extensions[STORE_KEY]
    return store


# Patient routes

patients = Blueprint("patients", __name__, url_prefix="/Patient")


@patients.before_request
def require_bearer_token() -> None:
    """Reject /Patient requests without a non-empty Bearer token with 401.

    OPTIONS is exempt so that Flask's automatic OPTIONS response still works. CORS
    preflights never get here because the middleware responds to them itself.
    """
    if request.method == "OPTIONS":
        return

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Missing or invalid Authorization header. Send 'Authorization: Bearer "
            "<token>'. This demo accepts any non-empty token.",
            www_authenticate=WWWAuthenticate("bearer"),
        )


@patients.get("")
def search_patients() -> Response:
    """Search Patients by ``_id`` and ``name`` and return a searchset Bundle."""
    matches = patient_store().search(request.args.get("name"))
    requested_id = request.args.get("_id")
    if requested_id:
        matches = [patient for patient in matches if patient["id"] == requested_id]

    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": request.url}],
        "entry": [
            {
                "fullUrl": f"{request.url_root}Patient/{patient['id']}",
                "resource": patient,
                "search": {"mode": "match"},
            }
            for patient in matches
        ],
    }
    return fhir_response(bundle)


@patients.post("")
def create_patient() -> Response:
    """Create a Patient with a server-assigned id, ignoring any id in the body."""
    created = patient_store().create(parse_patient_body())
    return resource_response(created, 201, {"Location": history_location(created)})


@patients.get("/<patient_id>")
def read_patient(patient_id: str) -> Response:
    patient = patient_store().read(patient_id)
    if patient is None:
        raise NotFound(f"Patient/{patient_id} not found.")
    return resource_response(patient, 200)


@patients.put("/<patient_id>")
def update_patient(patient_id: str) -> Response:
    """Update a Patient, or create it under the client's id when it does not exist.

    The body must contain the same id as the URL. If-Match, when sent, must name the
    current version as returned in ETag, or the server responds with 412.
    """
    if not FHIR_ID_PATTERN.fullmatch(patient_id):
        raise BadRequest(
            f"Invalid Patient id {patient_id!r}: use 1 to 64 letters, digits, "
            "'-' or '.'."
        )
    resource = parse_patient_body()
    if resource.get("id") != patient_id:
        raise BadRequest(
            f"Patient.id in the body ({resource.get('id')!r}) must equal the id in "
            f"the URL ({patient_id!r})."
        )

    try:
        updated, created = patient_store().update(
            patient_id, resource, request.if_match
        )
    except VersionConflict as error:
        raise PreconditionFailed(str(error)) from error

    if created:
        return resource_response(updated, 201, {"Location": history_location(updated)})
    return resource_response(updated, 200)


@patients.delete("/<patient_id>")
def delete_patient(patient_id: str) -> Response:
    if not patient_store().delete(patient_id):
        raise NotFound(f"Patient/{patient_id} not found.")
    return fhir_response(None, 204)


# Discovery routes, public to any origin through the policy's public_paths

discovery = Blueprint("discovery", __name__)


@discovery.get("/metadata")
def capability_statement() -> Response:
    """Return the CapabilityStatement, which declares CORS support in rest.security."""
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "kind": "instance",
        "software": {"name": "flask-fhir-cors demo server"},
        "implementation": {
            "description": "In-memory Patient demo",
            "url": request.url_root.rstrip("/"),
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": True,
                    "description": "Send any non-empty Bearer token.",
                },
                "resource": [
                    {
                        "type": "Patient",
                        "versioning": "versioned-update",
                        "readHistory": False,
                        "updateCreate": True,
                        "interaction": [
                            {"code": code}
                            for code in (
                                "read",
                                "search-type",
                                "create",
                                "update",
                                "delete",
                            )
                        ],
                        "searchParam": [
                            {"name": "_id", "type": "token"},
                            {"name": "name", "type": "string"},
                        ],
                    }
                ],
            }
        ],
    }
    return fhir_response(statement)


@discovery.get("/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """Return SMART App Launch discovery metadata with endpoints on this host.

    The endpoints are advertised but not implemented by this demo. The body is
    ``application/json`` because the discovery document is plain JSON, not a FHIR
    resource.
    """
    base = request.url_root.rstrip("/")
    configuration = {
        "issuer": base,
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": f"{base}/auth/token",
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "fhirUser", "launch/patient", "patient/*.rs"],
        "response_types_supported": ["code"],
        "capabilities": [
            "launch-standalone",
            "client-public",
            "context-standalone-patient",
            "permission-patient",
            "permission-v2",
        ],
    }
    return Response(json.dumps(configuration), mimetype="application/json")


# Application factory


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the demo API with its routes, OperationOutcome errors and FhirCORS.

    Settings are applied in this order, each overriding the one before: the demo
    defaults, FLASK_* environment variables, then `config`.
    """
    app = Flask(__name__)
    client_origin = os.environ.get("DEMO_CLIENT_ORIGIN") or DEFAULT_CLIENT_ORIGIN
    app.config["FHIR_CORS_ORIGINS"] = [client_origin]
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config.from_prefixed_env()
    if config:
        app.config.update(config)

    app.extensions[STORE_KEY] = PatientStore()
    app.register_blueprint(patients)
    app.register_blueprint(discovery)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.after_request(add_common_headers)

    FhirCORS(app)
    return app


app = create_app()
