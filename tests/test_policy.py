"""Building, normalizing and validating CORS policies."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from flask_fhir_cors import CORSPolicy, PolicyError, Problem
from flask_fhir_cors._settings import (
    DEFAULT_EXPOSE_HEADERS,
    DEFAULT_HEADERS,
    DEFAULT_METHODS,
    DEFAULT_PUBLIC_PATHS,
)

APP = "https://app.example.com"


def test_defaults_match_documented_values() -> None:
    policy = CORSPolicy()

    assert policy.origins == ()
    assert policy.methods == DEFAULT_METHODS
    assert policy.headers == DEFAULT_HEADERS
    assert policy.expose_headers == DEFAULT_EXPOSE_HEADERS
    assert policy.max_age is None
    assert policy.allow_credentials is False
    assert policy.public_paths == DEFAULT_PUBLIC_PATHS
    assert policy.allow_private_network is False
    assert policy.debug is False


VALID = [
    pytest.param(
        {"origins": "https://App.Example.COM"},
        "origins",
        ("https://app.example.com",),
        id="origin, case normalized",
    ),
    pytest.param(
        {"origins": "https://app.example.com:443"},
        "origins",
        (APP,),
        id="origin, default https port dropped",
    ),
    pytest.param(
        {"origins": "http://app.example.com:80"},
        "origins",
        ("http://app.example.com",),
        id="origin, default http port dropped",
    ),
    pytest.param(
        {"origins": "https://app.example.com:8443"},
        "origins",
        ("https://app.example.com:8443",),
        id="origin, other port kept",
    ),
    pytest.param(
        {"origins": "https://a.example.com\nhttps://b.example.com\n"},
        "origins",
        ("https://a.example.com", "https://b.example.com"),
        id="origins, one per line as pasted",
    ),
    pytest.param(
        {"origins": "https://a.example.com, https://b.example.com"},
        "origins",
        ("https://a.example.com", "https://b.example.com"),
        id="origins, comma separated",
    ),
    pytest.param(
        {"origins": "https://a.example.com\r\nhttps://b.example.com"},
        "origins",
        ("https://a.example.com", "https://b.example.com"),
        id="origins, CRLF lines",
    ),
    pytest.param(
        {"origins": [APP, "https://APP.example.com", "https://app.example.com:443"]},
        "origins",
        (APP,),
        id="origins, duplicates kept once",
    ),
    pytest.param({"origins": "*"}, "origins", ("*",), id="origins, wildcard"),
    pytest.param(
        {"origins": "https://*.Example.com"},
        "origins",
        ("https://*.example.com",),
        id="origins, subdomain pattern",
    ),
    pytest.param(
        {"origins": "https://bücher.example"},
        "origins",
        ("https://xn--bcher-kva.example",),
        id="origin, unicode host to punycode",
    ),
    pytest.param(
        {"origins": "http://[::1]:8080"},
        "origins",
        ("http://[::1]:8080",),
        id="origin, IPv6 loopback",
    ),
    pytest.param(
        {"origins": "http://127.0.0.1:3000"},
        "origins",
        ("http://127.0.0.1:3000",),
        id="origin, IPv4",
    ),
    pytest.param(
        {"origins": "capacitor://localhost"},
        "origins",
        ("capacitor://localhost",),
        id="origin, app scheme",
    ),
    pytest.param(
        {"methods": ["get", "delete", "patch", "Patch"]},
        "methods",
        ("GET", "DELETE", "patch", "Patch"),
        id="methods, Fetch-normalized names uppercased",
    ),
    pytest.param({"methods": "*"}, "methods", ("*",), id="methods, wildcard"),
    pytest.param(
        {"headers": "Authorization, X-Request-Id, authorization"},
        "headers",
        ("Authorization", "X-Request-Id"),
        id="headers, duplicates without case kept once",
    ),
    pytest.param({"headers": "*"}, "headers", ("*",), id="headers, wildcard"),
    pytest.param({"headers": []}, "headers", (), id="headers, empty list"),
    pytest.param(
        {"expose_headers": ""}, "expose_headers", (), id="expose, empty string"
    ),
    pytest.param({"expose_headers": "*"}, "expose_headers", ("*",), id="expose, *"),
    pytest.param({"max_age": 0}, "max_age", 0, id="max age, zero"),
    pytest.param({"max_age": 86400}, "max_age", 86400, id="max age, upper bound"),
    pytest.param({"max_age": "600"}, "max_age", 600, id="max age, from environment"),
    pytest.param(
        {"allow_credentials": "TRUE", "origins": APP},
        "allow_credentials",
        True,
        id="credentials, string true",
    ),
    pytest.param({"debug": 1}, "debug", True, id="flag, integer one"),
    pytest.param({"debug": "0"}, "debug", False, id="flag, string zero"),
    pytest.param(
        {"origins": '["https://a.example.com", "https://b.example.com"]'},
        "origins",
        ("https://a.example.com", "https://b.example.com"),
        id="origins, JSON list string",
    ),
    pytest.param(
        {"allow_credentials": "false"},
        "allow_credentials",
        False,
        id="credentials, string false",
    ),
    pytest.param(
        {"public_paths": "/metadata\n/files/"},
        "public_paths",
        ("/metadata", "/files/"),
        id="public paths, lines",
    ),
    pytest.param({"public_paths": []}, "public_paths", (), id="public paths, none"),
    pytest.param(
        {"origins": "http://localhost:3000", "allow_credentials": True},
        "origins",
        ("http://localhost:3000",),
        id="credentials, http loopback allowed",
    ),
    pytest.param(
        {
            "origins": "http://intranet.example",
            "allow_credentials": True,
            "unsafe_allow_http_origins": True,
        },
        "origins",
        ("http://intranet.example",),
        id="credentials, http with opt-out",
    ),
    pytest.param(
        {"origins": "https://*.github.io", "unsafe_allow_public_suffix_patterns": True},
        "origins",
        ("https://*.github.io",),
        id="pattern under public suffix with opt-out",
    ),
]


@pytest.mark.parametrize(("settings", "name", "expected"), VALID)
def test_valid_setting_normalized(
    settings: dict[str, Any], name: str, expected: Any
) -> None:
    policy = CORSPolicy(**settings)

    assert getattr(policy, name) == expected


INVALID = [
    # Origins
    pytest.param({"origins": "null"}, "origins", "origin-null", id="origin null"),
    pytest.param({"origins": "NULL"}, "origins", "origin-null", id="origin NULL"),
    pytest.param(
        {"origins": APP + "/"}, "origins", "origin-trailing-slash", id="trailing slash"
    ),
    pytest.param({"origins": APP + "/fhir"}, "origins", "origin-path", id="path"),
    pytest.param({"origins": APP + "?a=1"}, "origins", "origin-query", id="query"),
    pytest.param({"origins": APP + "#top"}, "origins", "origin-fragment", id="frag"),
    pytest.param(
        {"origins": "https://user@app.example.com"},
        "origins",
        "origin-userinfo",
        id="user info",
    ),
    pytest.param(
        {"origins": "app.example.com"},
        "origins",
        "origin-scheme-missing",
        id="scheme missing",
    ),
    pytest.param(
        {"origins": "1https://app.example.com"},
        "origins",
        "origin-scheme-invalid",
        id="scheme invalid",
    ),
    pytest.param(
        {"origins": ["https://app .example.com"]},
        "origins",
        "origin-whitespace",
        id="whitespace inside",
    ),
    pytest.param({"origins": [APP, ""]}, "origins", "empty-item", id="empty item"),
    pytest.param(
        {"origins": "https://a.example.com,,https://b.example.com"},
        "origins",
        "empty-item",
        id="empty item in string",
    ),
    pytest.param(
        {"origins": ["*", APP]}, "origins", "wildcard-mixed", id="wildcard mixed"
    ),
    pytest.param(
        {"origins": "https://app.*.example.com"},
        "origins",
        "origin-wildcard",
        id="wildcard in middle label",
    ),
    pytest.param(
        {"origins": "https://*example.com"},
        "origins",
        "origin-wildcard",
        id="wildcard without dot",
    ),
    pytest.param(
        {"origins": "https://*.com"},
        "origins",
        "origin-pattern-public-suffix",
        id="pattern under top-level domain",
    ),
    pytest.param(
        {"origins": "https://*.github.io"},
        "origins",
        "origin-pattern-public-suffix",
        id="pattern under public suffix",
    ),
    pytest.param(
        {"origins": "https://app.example.com:0"},
        "origins",
        "origin-port-invalid",
        id="port zero",
    ),
    pytest.param(
        {"origins": "https://app.example.com:70000"},
        "origins",
        "origin-port-invalid",
        id="port too large",
    ),
    pytest.param(
        {"origins": "https://app.example.com:http"},
        "origins",
        "origin-port-invalid",
        id="port not a number",
    ),
    pytest.param(
        {"origins": "https://app..example.com"},
        "origins",
        "origin-host-invalid",
        id="empty label",
    ),
    pytest.param(
        {"origins": "https://app.example.com."},
        "origins",
        "origin-host-invalid",
        id="trailing dot",
    ),
    pytest.param(
        {"origins": "https://-app.example.com"},
        "origins",
        "origin-host-invalid",
        id="label starts with hyphen",
    ),
    pytest.param(
        {"origins": "http://127.000.000.001"},
        "origins",
        "origin-ip-not-canonical",
        id="IPv4 leading zeros",
    ),
    pytest.param(
        {"origins": "http://0x7f.0.0.1"},
        "origins",
        "origin-ip-not-canonical",
        id="IPv4 hexadecimal",
    ),
    pytest.param(
        {"origins": "http://[0:0:0:0:0:0:0:1]"},
        "origins",
        "origin-ip-not-canonical",
        id="IPv6 not compressed",
    ),
    pytest.param(
        {"origins": "http://[fe80::1%25eth0]"},
        "origins",
        "origin-host-invalid",
        id="IPv6 zone",
    ),
    pytest.param({"origins": 42}, "origins", "type", id="origins wrong type"),
    pytest.param(
        {"origins": '["https://a.example.com",]'},
        "origins",
        "json-list-invalid",
        id="origins, broken JSON list",
    ),
    pytest.param(
        {"methods": "[1, 2]"}, "methods", "json-list-invalid", id="JSON not strings"
    ),
    pytest.param(
        {"origins": "https://[::1"},
        "origins",
        "origin-host-invalid",
        id="IPv6 bracket not closed",
    ),
    pytest.param({"origins": [APP, 7]}, "origins", "type", id="origins item type"),
    pytest.param(
        {"origins": "*", "allow_credentials": True},
        "origins",
        "credentials-wildcard-origin",
        id="wildcard with credentials",
    ),
    pytest.param(
        {"origins": "http://app.example.com", "allow_credentials": True},
        "origins",
        "origin-insecure-with-credentials",
        id="http with credentials",
    ),
    pytest.param(
        {"origins": "https://faß.example"},
        "origins",
        "origin-host-invalid",
        id="IDNA 2003 maps sharp s",
    ),
    pytest.param(
        {"origins": "https://a\u200db.example"},
        "origins",
        "origin-host-invalid",
        id="zero-width joiner",
    ),
    pytest.param(
        {"origins": "ws://app.example.com"},
        "origins",
        "origin-scheme-invalid",
        id="WebSocket scheme",
    ),
    pytest.param(
        {"origins": "javascript://app.example.com"},
        "origins",
        "origin-scheme-invalid",
        id="javascript scheme",
    ),
    pytest.param(
        {"origins": "https://a.example.com;https://b.example.com"},
        "origins",
        "origin-host-invalid",
        id="semicolon separator",
    ),
    # Methods
    pytest.param({"methods": "TRACE"}, "methods", "method-forbidden", id="TRACE"),
    pytest.param({"methods": "connect"}, "methods", "method-forbidden", id="connect"),
    pytest.param({"methods": "Track"}, "methods", "method-forbidden", id="Track"),
    pytest.param({"methods": "GET POST"}, "methods", "method-invalid", id="space"),
    pytest.param({"methods": "GET;"}, "methods", "method-invalid", id="semicolon"),
    pytest.param({"methods": ["*", "GET"]}, "methods", "wildcard-mixed", id="m mix"),
    pytest.param({"methods": {"GET": 1}}, "methods", "type", id="methods mapping"),
    # Headers
    pytest.param({"headers": "Cookie"}, "headers", "header-forbidden", id="Cookie"),
    pytest.param({"headers": "origin"}, "headers", "header-forbidden", id="Origin"),
    pytest.param({"headers": "Host"}, "headers", "header-forbidden", id="Host"),
    pytest.param(
        {"headers": "Sec-Fetch-Mode"}, "headers", "header-forbidden", id="Sec- prefix"
    ),
    pytest.param(
        {"headers": "Proxy-Authorization"},
        "headers",
        "header-forbidden",
        id="Proxy- prefix",
    ),
    pytest.param(
        {"headers": "Content-Length"},
        "headers",
        "header-forbidden",
        id="Content-Length",
    ),
    pytest.param({"headers": "X Id"}, "headers", "header-invalid", id="h space"),
    pytest.param({"headers": "X-Id:"}, "headers", "header-invalid", id="h colon"),
    pytest.param({"headers": b"X-Id"}, "headers", "type", id="headers bytes"),
    # Expose headers
    pytest.param(
        {"expose_headers": "Set-Cookie"},
        "expose_headers",
        "expose-forbidden",
        id="expose Set-Cookie",
    ),
    pytest.param(
        {"expose_headers": "ETag Location"},
        "expose_headers",
        "header-invalid",
        id="expose space",
    ),
    pytest.param(
        {"expose_headers": "*", "allow_credentials": True, "origins": APP},
        "expose_headers",
        "credentials-wildcard-expose",
        id="expose wildcard with credentials",
    ),
    # Max age
    pytest.param({"max_age": -1}, "max_age", "max-age-range", id="max age negative"),
    pytest.param({"max_age": 86401}, "max_age", "max-age-range", id="max age large"),
    pytest.param({"max_age": 1.5}, "max_age", "max-age-type", id="max age float"),
    pytest.param({"max_age": True}, "max_age", "max-age-type", id="max age bool"),
    pytest.param({"max_age": "ten"}, "max_age", "max-age-type", id="max age text"),
    pytest.param({"max_age": "-5"}, "max_age", "max-age-type", id="max age '-5'"),
    pytest.param({"max_age": "\u00b2"}, "max_age", "max-age-type", id="superscript"),
    pytest.param(
        {"max_age": "\uff16\uff10\uff10"},
        "max_age",
        "max-age-type",
        id="full-width digits",
    ),
    pytest.param({"max_age": "9" * 5000}, "max_age", "max-age-type", id="huge"),
    # Flags
    pytest.param(
        {"allow_credentials": "yes"}, "allow_credentials", "flag-type", id="cred yes"
    ),
    pytest.param(
        {"allow_credentials": 2}, "allow_credentials", "flag-type", id="cred int"
    ),
    pytest.param({"debug": "on"}, "debug", "flag-type", id="debug on"),
    # Public paths
    pytest.param(
        {"public_paths": "metadata"},
        "public_paths",
        "public-path-invalid",
        id="public path relative",
    ),
    pytest.param(
        {"public_paths": "/files/../secret"},
        "public_paths",
        "public-path-invalid",
        id="public path dot segment",
    ),
    pytest.param(
        {"public_paths": "/shared%20docs"},
        "public_paths",
        "public-path-invalid",
        id="public path percent-encoded",
    ),
    pytest.param(
        {"public_paths": "/metadata?x"},
        "public_paths",
        "public-path-invalid",
        id="public path query",
    ),
    pytest.param(
        {"public_paths": "/files//x"},
        "public_paths",
        "public-path-invalid",
        id="public path empty segment",
    ),
    pytest.param(
        {"public_paths": "/"},
        "public_paths",
        "public-path-invalid",
        id="public path root",
    ),
    pytest.param(
        {"public_paths": "/a\x00"},
        "public_paths",
        "public-path-invalid",
        id="public path NUL",
    ),
    pytest.param(
        {"headers": "Permissions-Policy"},
        "headers",
        "header-forbidden",
        id="Permissions-Policy",
    ),
    pytest.param(
        {"public_paths": "/api/*"},
        "public_paths",
        "public-path-invalid",
        id="public path wildcard",
    ),
]


@pytest.mark.parametrize(("settings", "setting", "code"), INVALID)
def test_invalid_setting_rejected(
    settings: dict[str, Any], setting: str, code: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        CORSPolicy(**settings)

    problems = caught.value.problems
    assert [problem.code for problem in problems] == [code]
    assert problems[0].setting == setting
    assert problems[0].message
    assert repr(problems[0].value) in str(caught.value)


def test_invalid_table_has_forty_rows() -> None:
    assert len(INVALID) >= 40


def test_every_problem_reported_at_once() -> None:
    with pytest.raises(PolicyError) as caught:
        CORSPolicy(
            origins=["null", APP + "/", "*"],
            methods="TRACE",
            headers="Cookie",
            expose_headers="Set-Cookie",
            max_age=-1,
            allow_credentials="maybe",
        )

    assert caught.value.codes == [
        "wildcard-mixed",
        "origin-null",
        "origin-trailing-slash",
        "method-forbidden",
        "header-forbidden",
        "expose-forbidden",
        "max-age-range",
        "flag-type",
    ]


def test_problem_fields_name_value_and_fix() -> None:
    with pytest.raises(PolicyError) as caught:
        CORSPolicy(origins=APP + "/")

    problem = caught.value.problems[0]
    assert problem == Problem(
        "origins",
        APP + "/",
        "origin-trailing-slash",
        problem.message,
    )
    assert "remove the final '/'" in problem.message


def test_policy_error_is_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


def test_unknown_keyword_rejected() -> None:
    with pytest.raises(TypeError, match="origin"):
        CORSPolicy(origin=APP)


def test_policy_cannot_be_changed() -> None:
    policy = CORSPolicy(origins=APP)

    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.origins = ("https://evil.example",)  # type: ignore[misc]


def test_equal_settings_equal_policies() -> None:
    first = CORSPolicy(origins="https://APP.example.com:443", methods=["get"])
    second = CORSPolicy(origins=[APP], methods=("GET",))

    assert first == second
    assert hash(first) == hash(second)


def test_rebuild_from_settings_is_identical() -> None:
    policy = CORSPolicy(origins=[APP, "https://*.example.org"], max_age=600)

    assert CORSPolicy(**policy.settings()) == policy
    assert dataclasses.replace(policy) == policy


def test_replace_validates_again() -> None:
    policy = CORSPolicy(origins=APP)

    with pytest.raises(PolicyError):
        dataclasses.replace(policy, max_age=-3)


def test_repr_names_every_setting() -> None:
    text = repr(CORSPolicy(origins=APP))

    assert text.startswith("CORSPolicy(origins=('https://app.example.com',)")
    for name in CORSPolicy().settings():
        assert f"{name}=" in text


def test_from_config_reads_prefixed_keys() -> None:
    config = {
        "FHIR_CORS_ORIGINS": "https://a.example.com\nhttps://b.example.com",
        "FHIR_CORS_MAX_AGE": "600",
        "FHIR_CORS_ALLOW_CREDENTIALS": "true",
        "OTHER_SETTING": "ignored",
    }

    policy = CORSPolicy.from_config(config)

    assert policy.origins == ("https://a.example.com", "https://b.example.com")
    assert policy.max_age == 600
    assert policy.allow_credentials is True


def test_opt_out_named_as_config_key() -> None:
    with pytest.raises(PolicyError) as caught:
        CORSPolicy.from_config(
            {
                "FHIR_CORS_ORIGINS": "http://portal.example.com",
                "FHIR_CORS_ALLOW_CREDENTIALS": True,
            }
        )

    message = caught.value.problems[0].message
    assert "FHIR_CORS_UNSAFE_ALLOW_HTTP_ORIGINS = True" in message


def test_from_config_names_config_keys() -> None:
    with pytest.raises(PolicyError) as caught:
        CORSPolicy.from_config({"FHIR_CORS_MAX_AGE": -1})

    assert caught.value.problems[0].setting == "FHIR_CORS_MAX_AGE"


def test_from_config_rejects_unknown_key() -> None:
    with pytest.raises(PolicyError) as caught:
        CORSPolicy.from_config({"FHIR_CORS_ORIGIN": APP})

    problem = caught.value.problems[0]
    assert problem.code == "unknown-setting"
    assert problem.setting == "FHIR_CORS_ORIGIN"
    assert "did you mean FHIR_CORS_ORIGINS?" in problem.message
    assert "FHIR_CORS_MAX_AGE" in problem.message


def test_from_config_none_means_default() -> None:
    policy = CORSPolicy.from_config({"FHIR_CORS_MAX_AGE": None})

    assert policy.max_age is None
    assert policy.methods == DEFAULT_METHODS


def test_building_many_origins() -> None:
    origins = [f"https://tenant{number}.example.com" for number in range(10_000)]

    policy = CORSPolicy(origins=origins)

    assert len(policy.origins) == 10_000
