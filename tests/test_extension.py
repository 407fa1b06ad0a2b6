"""The Flask extension: config, registration and responses through Flask."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_fhir_cors import CORSMiddleware, CORSPolicy, FhirCORS, PolicyError

APP_ORIGIN = "https://app.example.com"


def make_app(**config: object) -> Flask:
    app = Flask("fhir")
    app.config.update(config)

    @app.get("/Patient/<patient_id>")
    def read_patient(patient_id: str) -> tuple[dict[str, str], int]:
        return {"resourceType": "Patient", "id": patient_id}, 200

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("failure inside the app")

    return app


def test_reads_policy_from_config() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN, FHIR_CORS_MAX_AGE=600)

    FhirCORS(app)

    policy = app.extensions["fhir_cors"]
    assert isinstance(policy, CORSPolicy)
    assert policy.origins == (APP_ORIGIN,)
    assert policy.max_age == 600
    assert isinstance(app.wsgi_app, CORSMiddleware)


def test_init_app_factory_style() -> None:
    extension = FhirCORS()
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)

    returned = extension.init_app(app)

    assert app.extensions["fhir_cors"] is returned
    assert not any(value is app for value in vars(extension).values())


def test_second_registration_rejected() -> None:
    app = make_app()
    FhirCORS(app)

    with pytest.raises(RuntimeError, match="already registered"):
        FhirCORS(app)


def test_bad_config_names_keys() -> None:
    app = make_app(FHIR_CORS_ORIGINS="null", FHIR_CORS_MAX_AGE="forever")

    with pytest.raises(PolicyError) as caught:
        FhirCORS(app)

    settings = [problem.setting for problem in caught.value.problems]
    assert settings == ["FHIR_CORS_ORIGINS", "FHIR_CORS_MAX_AGE"]
    assert "fhir_cors" not in app.extensions


def test_config_typo_rejected() -> None:
    app = make_app(FHIR_CORS_ORIGIN=APP_ORIGIN)

    with pytest.raises(PolicyError, match="did you mean FHIR_CORS_ORIGINS"):
        FhirCORS(app)


def test_prefixed_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FLASK_FHIR_CORS_ORIGINS", "https://a.example.com,https://b.example.com"
    )
    monkeypatch.setenv("FLASK_FHIR_CORS_MAX_AGE", "600")
    monkeypatch.setenv("FLASK_FHIR_CORS_ALLOW_CREDENTIALS", "true")
    monkeypatch.setenv("FLASK_FHIR_CORS_HEADERS", '["Authorization", "Prefer"]')
    app = make_app()
    app.config.from_prefixed_env()

    FhirCORS(app)
    policy = app.extensions["fhir_cors"]

    assert policy.origins == ("https://a.example.com", "https://b.example.com")
    assert policy.max_age == 600
    assert policy.allow_credentials is True
    assert policy.headers == ("Authorization", "Prefer")


def test_config_read_once() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)
    FhirCORS(app)

    app.config["FHIR_CORS_ORIGINS"] = "https://other.example.com"

    response = app.test_client().get("/Patient/1", headers={"Origin": APP_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


def test_preflight_never_reaches_flask() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)
    seen: list[str] = []
    app.before_request(lambda: seen.append("request") and None)
    FhirCORS(app)

    response = app.test_client().options(
        "/not-routed",
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "DELETE"},
    )

    assert response.status_code == 204
    assert seen == []


@pytest.mark.parametrize(
    ("path", "status"), [("/Patient/1", 200), ("/missing", 404), ("/boom", 500)]
)
def test_every_status_gets_headers(path: str, status: int) -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)
    FhirCORS(app)

    response = app.test_client().get(path, headers={"Origin": APP_ORIGIN})

    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Origin" in response.headers.get_all("Vary")[0]


def test_default_policy_allows_no_origin() -> None:
    app = make_app()
    FhirCORS(app)

    response = app.test_client().get(
        "/Patient/1", headers={"Origin": "https://app.example.com"}
    )

    assert "Access-Control-Allow-Origin" not in response.headers


def test_flask_cors_keys_warned(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(CORS_ORIGINS=APP_ORIGIN, FHIR_CORS_ORIGINS=APP_ORIGIN)

    FhirCORS(app)

    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "CORS_ORIGINS" in warnings[0].getMessage()
    assert "FHIR_CORS_ORIGINS" in warnings[0].getMessage()
