"""The show, check and explain commands, under flask and python -m."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import FlaskGroup
from werkzeug.test import EnvironBuilder

from flask_fhir_cors import CORSMiddleware, CORSPolicy, FhirCORS
from flask_fhir_cors.cli import flask_cli, main
from flask_fhir_cors.explain import BrowserRequest, browser_allows

APP_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.net"

Header = tuple[str, str]

BAD_FACTORY_SOURCE = """
from flask import Flask
from flask_fhir_cors import FhirCORS

def create_app():
    app = Flask(__name__)
    app.config["FHIR_CORS_ORIGINS"] = ["https://app.example.com/", "*"]
    app.config["FHIR_CORS_MAX_AGE"] = "forever"
    FhirCORS(app)
    return app
"""

BAD_APP_SOURCE = BAD_FACTORY_SOURCE + "\napp = create_app()\n"

BAD_APP_CODES = ("wildcard-mixed", "origin-trailing-slash", "max-age-type")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("FHIR_CORS_", "FLASK_FHIR_CORS_")):
            monkeypatch.delenv(key)


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory for app modules, with sys.path and sys.modules restored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules_before = set(sys.modules)
    yield tmp_path

    for name in set(sys.modules) - modules_before:
        if name.startswith("cli_test_"):
            del sys.modules[name]


def make_app(**config: Any) -> Flask:
    app = Flask("fhir")
    app.config.update(config)
    FhirCORS(app)
    return app


def invoke_flask(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["fhir-cors", *args])


def invoke_main(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def write_settings(directory: Path, settings: dict[str, Any]) -> str:
    path = directory / "cors-settings.json"
    path.write_text(json.dumps(settings), encoding="utf-8")
    return str(path)


def show_lines(output: str) -> dict[str, tuple[str, str]]:
    """Map each config key of show's output to its value text and source."""
    lines = {}
    for line in output.splitlines():
        assignment, source = line.split("  # ", 1)
        key, value = assignment.split(" = ", 1)
        lines[key] = (value, source)
    return lines


# show


def test_show_sources_from_config() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN, FHIR_CORS_MAX_AGE="600")

    result = invoke_flask(app, "show")

    assert result.exit_code == 0, result.output
    lines = show_lines(result.output)
    assert len(lines) == 11
    assert lines["FHIR_CORS_ORIGINS"] == (
        "['https://app.example.com']",
        "config FHIR_CORS_ORIGINS",
    )
    assert lines["FHIR_CORS_MAX_AGE"] == ("600", "config FHIR_CORS_MAX_AGE")
    assert lines["FHIR_CORS_ALLOW_CREDENTIALS"] == ("False", "default")
    assert lines["FHIR_CORS_METHODS"][1] == "default"


def test_show_prefixed_env_is_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_FHIR_CORS_ORIGINS", '["https://app.example.com"]')
    app = Flask("fhir")
    app.config.from_prefixed_env()
    FhirCORS(app)

    result = invoke_flask(app, "show")

    assert result.exit_code == 0, result.output
    source = show_lines(result.output)["FHIR_CORS_ORIGINS"][1]
    assert source == "config FHIR_CORS_ORIGINS"


def test_show_output_loads_as_settings(tmp_path: Path) -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN, FHIR_CORS_ALLOW_CREDENTIALS=True)
    show_output = invoke_flask(app, "show").output
    settings_file = tmp_path / "settings.py"
    settings_file.write_text(show_output, encoding="utf-8")

    result = invoke_main("show", "--settings", str(settings_file))

    assert result.exit_code == 0, result.output
    original = {key: value for key, (value, _) in show_lines(show_output).items()}
    reloaded = {key: value for key, (value, _) in show_lines(result.output).items()}
    assert reloaded == original
    source = show_lines(result.output)["FHIR_CORS_DEBUG"][1]
    assert source == f"file {settings_file}"


def test_show_environment_sources() -> None:
    env = {
        "FHIR_CORS_ORIGINS": '["https://a.example.com", "https://b.example.com"]',
        "FHIR_CORS_METHODS": "GET, PUT",
        "FHIR_CORS_ALLOW_CREDENTIALS": "true",
    }

    result = invoke_main("show", env=env)

    assert result.exit_code == 0, result.output
    lines = show_lines(result.output)
    assert lines["FHIR_CORS_ORIGINS"] == (
        "['https://a.example.com', 'https://b.example.com']",
        "env FHIR_CORS_ORIGINS",
    )
    assert lines["FHIR_CORS_METHODS"] == ("['GET', 'PUT']", "env FHIR_CORS_METHODS")
    assert lines["FHIR_CORS_ALLOW_CREDENTIALS"] == (
        "True",
        "env FHIR_CORS_ALLOW_CREDENTIALS",
    )
    assert lines["FHIR_CORS_HEADERS"][1] == "default"


def test_show_json_settings_file(tmp_path: Path) -> None:
    path = write_settings(tmp_path, {"FHIR_CORS_ORIGINS": [APP_ORIGIN]})

    result = invoke_main("show", "--settings", path)

    assert result.exit_code == 0, result.output
    lines = show_lines(result.output)
    assert lines["FHIR_CORS_ORIGINS"] == ("['https://app.example.com']", f"file {path}")
    assert lines["FHIR_CORS_MAX_AGE"] == ("None", "default")


def test_show_invalid_settings_fails() -> None:
    result = invoke_main("show", env={"FHIR_CORS_MAX_AGE": "forever"})

    assert result.exit_code == 1
    assert "max-age-type" in result.output


# check


def test_check_valid_config() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)

    result = invoke_flask(app, "check")

    assert result.exit_code == 0, result.output
    assert result.output == "OK: the CORS settings are valid (1 set, 10 default)\n"


def test_check_config_changed_after_init() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)
    app.config["FHIR_CORS_ORIGINS"] = "https://app.example.com/fhir"
    app.config["FHIR_CORS_DEBUG"] = "yes"

    result = invoke_flask(app, "check")

    assert result.exit_code == 1
    assert "FHIR_CORS_ORIGINS = 'https://app.example.com/fhir'" in result.output
    assert "FHIR_CORS_DEBUG = 'yes'" in result.output
    assert "[flag-type]" in result.output


def test_check_broken_app_as_flask_plugin(module_dir: Path) -> None:
    (module_dir / "cli_test_bad_plugin.py").write_text(BAD_APP_SOURCE)
    group = FlaskGroup(add_default_commands=False, load_dotenv=False)
    group.add_command(flask_cli)

    result = CliRunner().invoke(
        group, ["--app", "cli_test_bad_plugin", "fhir-cors", "check"]
    )

    assert result.exit_code == 1, result.output
    assert "Invalid CORS settings (3 problems):" in result.output
    for code in BAD_APP_CODES:
        assert f"[{code}]" in result.output


def test_check_broken_app_module(module_dir: Path) -> None:
    (module_dir / "cli_test_bad_module.py").write_text(BAD_APP_SOURCE)

    result = invoke_main("check", "--app", "cli_test_bad_module:app")

    assert result.exit_code == 1, result.output
    assert "FHIR_CORS_MAX_AGE = 'forever'" in result.output
    for code in BAD_APP_CODES:
        assert f"[{code}]" in result.output


def test_check_broken_app_factory(module_dir: Path) -> None:
    (module_dir / "cli_test_factory.py").write_text(BAD_FACTORY_SOURCE)

    result = invoke_main("check", "--app", "cli_test_factory:create_app()")

    assert result.exit_code == 1, result.output
    for code in BAD_APP_CODES:
        assert f"[{code}]" in result.output


def test_check_good_app_module(module_dir: Path) -> None:
    source = BAD_APP_SOURCE.replace('"https://app.example.com/", "*"', '"*"')
    source = source.replace('"forever"', "600")
    (module_dir / "cli_test_good_module.py").write_text(source)

    result = invoke_main("check", "--app", "cli_test_good_module")

    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ")


def test_check_environment_problems() -> None:
    env = {
        "FHIR_CORS_ORIGINS": '["https://app.example.com"',
        "FHIR_CORS_MAX_AGE": "99999999",
        "FHIR_CORS_HEADER": "X-Custom",
    }

    result = invoke_main("check", env=env)

    assert result.exit_code == 1
    assert "Invalid CORS settings (3 problems):" in result.output
    assert "[json-list-invalid]" in result.output
    assert "[max-age-range]" in result.output
    assert "did you mean FHIR_CORS_HEADERS?" in result.output


def test_check_environment_valid() -> None:
    env = {"FHIR_CORS_ORIGINS": "https://a.example.com,https://b.example.com"}

    result = invoke_main("check", env=env)

    assert result.exit_code == 0, result.output
    assert result.output == "OK: the CORS settings are valid (1 set, 10 default)\n"


def test_check_settings_file_problems(tmp_path: Path) -> None:
    settings = {"origins": [APP_ORIGIN], "FHIR_CORS_METHODS": ["GET", "TRACE"]}
    path = write_settings(tmp_path, settings)

    result = invoke_main("check", "--settings", path)

    assert result.exit_code == 1
    assert "origins = ['https://app.example.com']" in result.output
    assert "rename it to FHIR_CORS_ORIGINS" in result.output
    assert "[method-forbidden]" in result.output


def test_check_settings_file_not_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")

    result = invoke_main("check", "--settings", str(path))

    assert result.exit_code == 1
    assert "expected a JSON object" in result.output


def test_check_app_and_settings_conflict(tmp_path: Path) -> None:
    path = write_settings(tmp_path, {})

    result = invoke_main("check", "--app", "anything", "--settings", path)

    assert result.exit_code == 2
    assert "give --app or --settings, not both" in result.output


def test_python_m_runs_check() -> None:
    env = {**os.environ, "FHIR_CORS_ORIGINS": "https://app.example.com/"}

    completed = subprocess.run(
        [sys.executable, "-m", "flask_fhir_cors", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 1
    assert "[origin-trailing-slash]" in completed.stdout


def test_flask_check_broken_app(module_dir: Path) -> None:
    (module_dir / "cli_test_bad_flask.py").write_text(BAD_APP_SOURCE)
    env = {**os.environ, "PYTHONPATH": str(module_dir)}

    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "cli_test_bad_flask"]
        + ["fhir-cors", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # The package registers the command group as a Flask plugin, so the
    # command runs even though the app itself fails to load.
    assert completed.returncode == 1
    assert "Invalid CORS settings (3 problems):" in completed.stdout
    for code in BAD_APP_CODES:
        assert f"[{code}]" in completed.stdout


# explain


def test_explain_allowed_preflight() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN, FHIR_CORS_MAX_AGE=600)

    result = invoke_flask(
        app,
        "explain",
        APP_ORIGIN,
        "--method",
        "PUT",
        "--header",
        "Content-Type",
        "--header",
        "Authorization",
        "--path",
        "/Patient/1",
    )

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  Access-Control-Request-Headers: authorization,content-type" in lines
    assert "  allowed  method: method 'PUT' is allowed" in lines
    assert "  204 No Content" in lines
    assert "  Access-Control-Allow-Origin: https://app.example.com" in lines
    assert "  Access-Control-Max-Age: 600" in lines
    assert "  allowed  the preflight response passes the CORS checks" in lines
    assert "Actual request" in lines
    assert lines[-1].startswith("Verdict: allowed.")


def test_explain_refused_origin() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)

    result = invoke_flask(app, "explain", OTHER_ORIGIN, "--method", "DELETE")

    assert result.exit_code == 1
    lines = result.output.splitlines()
    refused_steps = [line for line in lines if line.startswith("  refused  origin: ")]
    assert len(refused_steps) == 1
    assert "  403 Forbidden" in lines
    assert "Actual request" not in lines
    assert "X-CORS-Refusal-Reason: origin-not-allowed" not in result.output
    assert lines[-1].startswith("Verdict: blocked. A browser sends only the preflight")


def test_explain_simple_request_refused() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN)

    result = invoke_flask(app, "explain", OTHER_ORIGIN)

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "Preflight request" not in lines
    assert "  Vary: Origin" in lines
    assert "  refused  the response has no Access-Control-Allow-Origin header" in lines
    assert lines[-1].startswith("Verdict: blocked. A browser sends GET /")


def test_explain_debug_body_and_reason() -> None:
    app = make_app(FHIR_CORS_ORIGINS=APP_ORIGIN, FHIR_CORS_DEBUG=True)

    result = invoke_flask(app, "explain", APP_ORIGIN, "--header", "X-Custom")

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "  X-CORS-Refusal-Reason: header-not-allowed" in lines
    assert "Response body" in lines
    assert "  CORS preflight refused: header-not-allowed" in lines


def test_explain_invalid_settings_status() -> None:
    result = invoke_main("explain", APP_ORIGIN, env={"FHIR_CORS_ORIGINS": "nope"})

    assert result.exit_code == 2
    assert "Invalid CORS settings" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://app.example.com/"], "without a trailing slash"),
        (["https://bücher.example"], "'https://xn--bcher-kva.example'"),
        (["https://[::1"], "no closing ']'"),
        (["https://*.example.com"], "is a pattern"),
        (["HTTPS://App.Example.com"], "a browser sends this origin as"),
        (["https://app.example.com:443"], "a browser sends this origin as"),
        (["app.example.com"], "is not an origin"),
        (["https://app.example.com/path"], "is not an origin"),
        ([APP_ORIGIN, "--header", "Cookie"], "browsers never let a page set"),
        ([APP_ORIGIN, "--header", "Content-Type: text/plain"], "not a header name"),
        ([APP_ORIGIN, "--method", "TRACE"], "browsers never send the method"),
        ([APP_ORIGIN, "--path", "Patient"], "does not start with '/'"),
    ],
)
def test_explain_rejects_bad_input(args: list[str], message: str) -> None:
    result = invoke_main("explain", *args, env={"FHIR_CORS_ORIGINS": APP_ORIGIN})

    assert result.exit_code == 2
    assert message in result.output


def test_explain_uppercases_fetch_methods() -> None:
    env = {"FHIR_CORS_ORIGINS": APP_ORIGIN}

    deleted = invoke_main("explain", APP_ORIGIN, "--method", "delete", env=env)
    patched = invoke_main("explain", APP_ORIGIN, "--method", "patch", env=env)

    assert deleted.exit_code == 0, deleted.output
    assert "  Access-Control-Request-Method: DELETE" in deleted.output.splitlines()
    assert patched.exit_code == 1
    assert "  Access-Control-Request-Method: patch" in patched.output.splitlines()


# browser_allows


def test_browser_wildcard_with_credentials() -> None:
    request = BrowserRequest(APP_ORIGIN, "GET", "/", credentials=True)

    check = browser_allows(request, [("Access-Control-Allow-Origin", "*")])

    assert not check.allowed
    assert "'*'" in check.reason


def test_browser_credentials_need_true() -> None:
    request = BrowserRequest(APP_ORIGIN, "GET", "/", credentials=True)
    origin_only = [("Access-Control-Allow-Origin", APP_ORIGIN)]
    with_true = [*origin_only, ("Access-Control-Allow-Credentials", "true")]
    with_upper = [*origin_only, ("Access-Control-Allow-Credentials", "TRUE")]

    assert not browser_allows(request, origin_only).allowed
    assert browser_allows(request, with_true).allowed
    assert not browser_allows(request, with_upper).allowed


def test_browser_repeated_allow_origin() -> None:
    request = BrowserRequest(APP_ORIGIN, "GET", "/")
    headers = [
        ("Access-Control-Allow-Origin", APP_ORIGIN),
        ("access-control-allow-origin", APP_ORIGIN),
    ]

    assert not browser_allows(request, headers).allowed


def test_browser_preflight_status_ok() -> None:
    request = BrowserRequest(APP_ORIGIN, "PUT", "/")
    headers = [
        ("Access-Control-Allow-Origin", APP_ORIGIN),
        ("Access-Control-Allow-Methods", "PUT"),
    ]

    assert browser_allows(request, headers, "200 OK").allowed
    assert not browser_allows(request, headers, "403 Forbidden").allowed


def test_browser_method_case_sensitive() -> None:
    headers = [
        ("Access-Control-Allow-Origin", APP_ORIGIN),
        ("Access-Control-Allow-Methods", "PATCH"),
    ]
    upper = BrowserRequest(APP_ORIGIN, "PATCH", "/")
    lower = BrowserRequest(APP_ORIGIN, "patch", "/")

    assert browser_allows(upper, headers, "204 No Content").allowed
    assert not browser_allows(lower, headers, "204 No Content").allowed


def test_browser_wildcard_method() -> None:
    headers = [
        ("Access-Control-Allow-Origin", APP_ORIGIN),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "*"),
    ]
    plain = BrowserRequest(APP_ORIGIN, "PUT", "/")
    credentialed = BrowserRequest(APP_ORIGIN, "PUT", "/", credentials=True)

    assert browser_allows(plain, headers, "204 No Content").allowed
    assert not browser_allows(credentialed, headers, "204 No Content").allowed


def test_browser_wildcard_headers() -> None:
    headers = [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Headers", "*"),
    ]
    custom = BrowserRequest(APP_ORIGIN, "GET", "/", ("X-Custom",))
    authorization = BrowserRequest(APP_ORIGIN, "GET", "/", ("Authorization",))

    assert browser_allows(custom, headers, "204 No Content").allowed
    assert not browser_allows(authorization, headers, "204 No Content").allowed


def test_browser_headers_ignore_case() -> None:
    headers = [
        ("Access-Control-Allow-Origin", APP_ORIGIN),
        ("Access-Control-Allow-Headers", "authorization, X-REQUEST-ID"),
    ]
    request = BrowserRequest(APP_ORIGIN, "GET", "/", ("Authorization", "X-Request-Id"))

    assert browser_allows(request, headers, "204 No Content").allowed


def test_browser_private_network() -> None:
    request = BrowserRequest(APP_ORIGIN, "GET", "/", private_network=True)
    headers = [("Access-Control-Allow-Origin", APP_ORIGIN)]
    granted = [*headers, ("Access-Control-Allow-Private-Network", "true")]

    assert not browser_allows(request, headers, "204 No Content").allowed
    assert browser_allows(request, granted, "204 No Content").allowed


def test_browser_request_preflight_rules() -> None:
    safelisted = BrowserRequest(APP_ORIGIN, "POST", "/", ("Accept", "Accept-Language"))
    content_type = BrowserRequest(APP_ORIGIN, "POST", "/", ("Content-Type",))
    put = BrowserRequest(APP_ORIGIN, "PUT", "/")

    assert not safelisted.needs_preflight
    assert content_type.needs_preflight
    assert put.needs_preflight
    assert content_type.preflight().request_headers == "content-type"
    assert put.preflight().request_headers is None


# explain agrees with the middleware

POLICIES: dict[str, dict[str, Any]] = {
    "basic": {"FHIR_CORS_ORIGINS": [APP_ORIGIN]},
    "credentials": {
        "FHIR_CORS_ORIGINS": [APP_ORIGIN],
        "FHIR_CORS_ALLOW_CREDENTIALS": True,
        "FHIR_CORS_MAX_AGE": 600,
    },
    "any-origin": {"FHIR_CORS_ORIGINS": "*"},
    "any-everything": {
        "FHIR_CORS_ORIGINS": "*",
        "FHIR_CORS_METHODS": "*",
        "FHIR_CORS_HEADERS": "*",
    },
    "wildcards-credentials": {
        "FHIR_CORS_ORIGINS": [APP_ORIGIN],
        "FHIR_CORS_METHODS": "*",
        "FHIR_CORS_HEADERS": "*",
        "FHIR_CORS_ALLOW_CREDENTIALS": True,
    },
    "private-network": {
        "FHIR_CORS_ORIGINS": [APP_ORIGIN],
        "FHIR_CORS_ALLOW_PRIVATE_NETWORK": True,
    },
    "debug": {"FHIR_CORS_ORIGINS": [APP_ORIGIN], "FHIR_CORS_DEBUG": True},
    "pattern": {"FHIR_CORS_ORIGINS": ["https://*.apps.example.com"]},
    "no-public-paths": {
        "FHIR_CORS_ORIGINS": [APP_ORIGIN],
        "FHIR_CORS_PUBLIC_PATHS": [],
    },
}

# Policy name, explain arguments, and whether a browser allows the request.
AGREEMENT_CASES = [
    ("basic", [APP_ORIGIN], True),
    ("basic", [OTHER_ORIGIN], False),
    (
        "basic",
        [APP_ORIGIN, "--method", "PUT", "--header", "Authorization"]
        + ["--header", "Content-Type", "--path", "/Patient/1"],
        True,
    ),
    ("basic", [OTHER_ORIGIN, "--method", "PUT", "--path", "/Patient/1"], False),
    ("basic", [APP_ORIGIN, "--method", "PURGE"], False),
    ("basic", [APP_ORIGIN, "--method", "patch"], False),
    ("basic", [APP_ORIGIN, "--method", "PATCH"], True),
    ("basic", [APP_ORIGIN, "--method", "OPTIONS"], False),
    ("basic", [APP_ORIGIN, "--header", "X-Custom"], False),
    ("basic", [APP_ORIGIN, "--header", "Accept", "--header", "Accept-Language"], True),
    ("basic", [OTHER_ORIGIN, "--path", "/metadata"], True),
    ("basic", [OTHER_ORIGIN, "--path", "/.well-known/smart-configuration"], True),
    ("basic", [APP_ORIGIN, "--path", "/metadata", "--credentials"], False),
    ("basic", [OTHER_ORIGIN, "--path", "/metadata", "--method", "PUT"], False),
    ("basic", [OTHER_ORIGIN, "--path", "/metadata", "--header", "Authorization"], True),
    ("basic", [OTHER_ORIGIN, "--path", "/metadata/../Patient"], False),
    ("basic", [APP_ORIGIN, "--credentials"], False),
    ("credentials", [APP_ORIGIN, "--credentials"], True),
    (
        "credentials",
        [APP_ORIGIN, "--method", "DELETE", "--header", "Authorization"]
        + ["--credentials"],
        True,
    ),
    ("credentials", [OTHER_ORIGIN, "--credentials"], False),
    ("any-origin", [OTHER_ORIGIN], True),
    ("any-origin", [OTHER_ORIGIN, "--credentials"], False),
    ("any-origin", [OTHER_ORIGIN, "--method", "PUT", "--header", "Content-Type"], True),
    ("any-origin", [OTHER_ORIGIN, "--method", "PUT", "--credentials"], False),
    (
        "any-everything",
        [OTHER_ORIGIN, "--method", "DELETE", "--header", "X-Custom"]
        + ["--header", "Authorization"],
        True,
    ),
    ("any-everything", [OTHER_ORIGIN, "--method", "REPORT"], True),
    (
        "wildcards-credentials",
        [APP_ORIGIN, "--method", "REPORT", "--header", "X-Custom", "--credentials"],
        True,
    ),
    ("private-network", [APP_ORIGIN, "--private-network"], True),
    ("basic", [APP_ORIGIN, "--private-network"], False),
    ("debug", [OTHER_ORIGIN, "--method", "PUT"], False),
    ("debug", [APP_ORIGIN, "--method", "PUT", "--header", "X-Custom"], False),
    ("debug", [APP_ORIGIN, "--method", "PUT"], True),
    ("pattern", ["https://records.apps.example.com"], True),
    ("pattern", ["https://apps.example.com"], False),
    ("no-public-paths", [OTHER_ORIGIN, "--path", "/metadata"], False),
]

AGREEMENT_IDS = [f"{name} {' '.join(args)}" for name, args, _ in AGREEMENT_CASES]

APP_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "2")]


def plain_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", list(APP_HEADERS))
    return [b"ok"]


def call_middleware(
    middleware: CORSMiddleware, method: str, path: str, headers: list[Header]
) -> tuple[str, list[Header], bytes]:
    environ = EnvironBuilder(method=method, path=path, headers=headers).get_environ()
    sent: list[tuple[str, list[Header]]] = []

    def start_response(
        status: str, response_headers: list[Header], exc_info: Any = None
    ) -> None:
        sent.append((status, response_headers))

    body = b"".join(middleware(environ, start_response))  # type: ignore[arg-type]
    status, response_headers = sent[0]
    return status, response_headers, body


def middleware_exchanges(
    settings: dict[str, Any], request: BrowserRequest
) -> list[tuple[str | None, list[Header], bytes]]:
    """Send the browser's requests through the middleware, as explain models them.

    The actual request is sent only when the preflight passes the browser's
    checks. Its status and the app's own headers are left out, because
    explain reports only what the middleware adds.
    """
    middleware = CORSMiddleware(plain_app, CORSPolicy.from_config(settings))
    exchanges: list[tuple[str | None, list[Header], bytes]] = []
    if request.needs_preflight:
        preflight = request.preflight()
        headers = [("Origin", request.origin)]
        headers.append(("Access-Control-Request-Method", request.method))
        if preflight.request_headers is not None:
            headers.append(
                ("Access-Control-Request-Headers", preflight.request_headers)
            )
        if request.private_network:
            headers.append(("Access-Control-Request-Private-Network", "true"))

        status, sent, body = call_middleware(
            middleware, "OPTIONS", request.path, headers
        )
        exchanges.append((status, sent, body))
        if not browser_allows(request, sent, status).allowed:
            return exchanges

    headers = [("Origin", request.origin)]
    headers.extend((name, "value") for name in request.headers)
    status, sent, body = call_middleware(
        middleware, request.method, request.path, headers
    )
    assert status == "200 OK"
    assert sent[: len(APP_HEADERS)] == APP_HEADERS
    exchanges.append((None, sent[len(APP_HEADERS) :], b""))
    return exchanges


def explained_exchanges(output: str) -> list[tuple[str | None, list[Header], bytes]]:
    """Read the status, headers and body of each response explain printed."""
    exchanges: list[tuple[str | None, list[Header], bytes]] = []
    lines = iter(output.splitlines())
    for line in lines:
        if line == "Response from the middleware":
            status: str | None = next(lines).strip()
        elif line.startswith("Response headers from the middleware"):
            status = None
        elif line == "Response body":
            body = next(lines).strip() + "\n"
            status, headers, _ = exchanges.pop()
            exchanges.append((status, headers, body.encode("ascii")))
            continue
        else:
            continue

        headers = []
        for header_line in lines:
            if not header_line:
                break
            name, value = header_line.strip().split(": ", 1)
            headers.append((name, value))
        exchanges.append((status, headers, b""))
    return exchanges


def parse_explain_args(args: list[str]) -> BrowserRequest:
    """Build the BrowserRequest that explain builds for the same arguments."""
    command = main.commands["explain"]
    context = command.make_context("explain", list(args))
    params = context.params
    return BrowserRequest(
        params["origin"],
        params["method"],
        params["path"],
        params["headers"],
        params["credentials"],
        params["private_network"],
    )


@pytest.mark.parametrize(
    ("policy_name", "args", "expected_allowed"), AGREEMENT_CASES, ids=AGREEMENT_IDS
)
def test_explain_matches_middleware(
    tmp_path: Path, policy_name: str, args: list[str], expected_allowed: bool
) -> None:
    settings = POLICIES[policy_name]
    settings_path = write_settings(tmp_path, settings)
    request = parse_explain_args(args)

    result = invoke_main("explain", "--settings", settings_path, *args)

    assert result.exit_code == (0 if expected_allowed else 1), result.output
    explained = explained_exchanges(result.output)
    sent = middleware_exchanges(settings, request)
    assert len(explained) == len(sent)
    for explained_exchange, sent_exchange in zip(explained, sent):
        assert explained_exchange[0] == sent_exchange[0]
        assert explained_exchange[1] == sent_exchange[1]
        assert explained_exchange[2] == sent_exchange[2]


@pytest.mark.parametrize(
    ("policy_name", "args", "expected_allowed"), AGREEMENT_CASES, ids=AGREEMENT_IDS
)
def test_explain_same_under_flask(
    tmp_path: Path, policy_name: str, args: list[str], expected_allowed: bool
) -> None:
    settings = POLICIES[policy_name]
    settings_path = write_settings(tmp_path, settings)
    app = make_app(**settings)

    flask_result = invoke_flask(app, "explain", *args)
    main_result = invoke_main("explain", "--settings", settings_path, *args)

    assert flask_result.exit_code == (0 if expected_allowed else 1)
    assert main_result.exit_code == flask_result.exit_code
    assert flask_result.output == main_result.output


def test_agreement_table_size() -> None:
    allowed = [case for case in AGREEMENT_CASES if case[2]]
    blocked = [case for case in AGREEMENT_CASES if not case[2]]

    assert len(AGREEMENT_CASES) >= 20
    assert len(allowed) >= 8
    assert len(blocked) >= 8


def test_check_help_names_module_command() -> None:
    app = make_app()

    result = invoke_flask(app, "check", "--help")

    assert result.exit_code == 0
    assert "python -m flask_fhir_cors check --app" in result.output


@pytest.mark.parametrize(
    ("command", "exit_code"),
    [
        pytest.param(["check"], 1, id="check"),
        pytest.param(["show"], 1, id="show"),
        pytest.param(["explain", APP_ORIGIN], 2, id="explain"),
    ],
)
def test_app_without_extension_reported(command: list[str], exit_code: int) -> None:
    app = Flask("plain")
    app.config["FHIR_CORS_ORIGINS"] = APP_ORIGIN
    app.cli.add_command(flask_cli)

    result = app.test_cli_runner().invoke(args=["fhir-cors", *command])

    assert result.exit_code == exit_code
    assert "[extension-not-registered]" in result.output
    assert "Verdict: allowed" not in result.output
