"""Request workloads: prebuilt WSGI environs and the CORS outcome each expects."""

from __future__ import annotations

import json
from dataclasses import dataclass

from contenders import APP_ORIGIN, FHIR_JSON, ONE_ORIGIN, CorsConfig, Environ
from werkzeug.test import EnvironBuilder

PATIENT_PATH = "/Patient/123"
DISALLOWED_ORIGIN = "https://attacker.example.net"
BEARER = "Bearer eyJhbGciOiJSUzI1NiJ9.benchmark.signature"
PATIENT_BODY = json.dumps(
    {
        "resourceType": "Patient",
        "id": "123",
        "active": True,
        "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
        "birthDate": "1974-12-25",
    }
).encode()

TENANT_COUNT = 1_000
ROTATING_COUNT = 1_000


@dataclass(frozen=True)
class Workload:
    """One kind of request, sent to every contender under one CORS configuration.

    The timing loop cycles through ``environs`` and gives each request a fresh
    ``wsgi.input`` containing ``body``.
    """

    name: str
    description: str
    config: CorsConfig
    environs: tuple[Environ, ...]
    body: bytes = b""
    is_preflight: bool = False
    is_allowed: bool = False


def build_environ(method: str, headers: dict[str, str], body: bytes = b"") -> Environ:
    """Build a WSGI environ for ``PATIENT_PATH``, without its ``wsgi.input``."""
    builder = EnvironBuilder(
        path=PATIENT_PATH, method=method, headers=headers, data=body
    )
    environ = builder.get_environ()
    del environ["wsgi.input"]
    return environ


def get_environ(origin: str | None) -> Environ:
    headers = {"Accept": FHIR_JSON, "Authorization": BEARER}
    if origin is not None:
        headers["Origin"] = origin
    return build_environ("GET", headers)


def put_environ(origin: str) -> Environ:
    headers = {
        "Origin": origin,
        "Accept": FHIR_JSON,
        "Authorization": BEARER,
        "Content-Type": FHIR_JSON,
    }
    return build_environ("PUT", headers, PATIENT_BODY)


def preflight_environ(origin: str) -> Environ:
    # The Fetch standard has browsers send the names lowercased, sorted and
    # joined by commas without spaces.
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    return build_environ("OPTIONS", headers)


def many_origins(count: int) -> CorsConfig:
    """Return ``count`` allowed origins, with ``APP_ORIGIN`` last.

    Putting the requested origin last is the worst case for a linear scan.
    """
    others = tuple(f"https://client{i}.example.org" for i in range(count - 1))
    return CorsConfig(origins=(*others, APP_ORIGIN))


def tenant_patterns(count: int = TENANT_COUNT) -> tuple[str, ...]:
    return tuple(f"https://*.tenant{i}.example.com" for i in range(count))


def rotating_disallowed_origins(count: int = ROTATING_COUNT) -> tuple[str, ...]:
    """Return distinct near misses of the tenant patterns, none of them allowed.

    Even entries use the wrong scheme. Odd entries are the tenant domain itself,
    which ``https://*.tenantN.example.com`` does not cover.
    """
    origins = []
    for i in range(count):
        if i % 2 == 0:
            origins.append(f"http://app.tenant{i}.example.com")
        else:
            origins.append(f"https://tenant{i}.example.com")
    return tuple(origins)


def build_base_workloads() -> list[Workload]:
    """Build the six workloads that use the one-origin configuration."""
    return [
        Workload(
            name="get-allowed",
            description="GET, the one allowed origin",
            config=ONE_ORIGIN,
            environs=(get_environ(APP_ORIGIN),),
            is_allowed=True,
        ),
        Workload(
            name="put-allowed",
            description="PUT with a JSON body, the one allowed origin",
            config=ONE_ORIGIN,
            environs=(put_environ(APP_ORIGIN),),
            body=PATIENT_BODY,
            is_allowed=True,
        ),
        Workload(
            name="preflight-allowed",
            description="preflight for PUT with Authorization and Content-Type",
            config=ONE_ORIGIN,
            environs=(preflight_environ(APP_ORIGIN),),
            is_preflight=True,
            is_allowed=True,
        ),
        Workload(
            name="get-disallowed",
            description="GET, disallowed origin, one origin allowed",
            config=ONE_ORIGIN,
            environs=(get_environ(DISALLOWED_ORIGIN),),
        ),
        Workload(
            name="get-no-origin",
            description="GET without Origin",
            config=ONE_ORIGIN,
            environs=(get_environ(None),),
        ),
        Workload(
            name="preflight-disallowed",
            description="preflight for PUT from a disallowed origin",
            config=ONE_ORIGIN,
            environs=(preflight_environ(DISALLOWED_ORIGIN),),
            is_preflight=True,
        ),
    ]


def build_scale_workloads() -> list[Workload]:
    """Build the GET workloads that grow the policy.

    The one-origin rows of the scale table come from ``get-allowed`` and
    ``get-disallowed``, so they are not repeated here.
    """
    workloads = []
    for count in (100, 10_000):
        config = many_origins(count)
        workloads += _allowed_and_disallowed(f"{count}-origins", config)

    patterns = CorsConfig(origins=(APP_ORIGIN,), patterns=tenant_patterns())
    workloads += _allowed_and_disallowed("patterns", patterns)

    largest = CorsConfig(
        origins=many_origins(10_000).origins, patterns=patterns.patterns
    )
    rotating = tuple(get_environ(origin) for origin in rotating_disallowed_origins())
    workloads.append(
        Workload(
            name="get-disallowed-rotating",
            description=(
                f"GET, {ROTATING_COUNT:,} distinct disallowed origins in turn, "
                f"10,000 origins and {TENANT_COUNT:,} patterns allowed"
            ),
            config=largest,
            environs=rotating,
        )
    )
    return workloads


def _allowed_and_disallowed(suffix: str, config: CorsConfig) -> list[Workload]:
    if config.patterns:
        # One request origin per pattern, so each request matches a different one.
        count = len(config.patterns)
        allowed_origins = tuple(
            f"https://app.tenant{i}.example.com" for i in range(count)
        )
        allowed_description = (
            f"GET, {count:,} distinct allowed origins in turn, each matching "
            f"one of {count:,} subdomain patterns"
        )
        scope = f"{count:,} subdomain patterns"
    else:
        allowed_origins = (APP_ORIGIN,)
        scope = f"{len(config.origins):,} origins"
        allowed_description = f"GET, allowed origin, listed last of {scope}"

    allowed = Workload(
        name=f"get-allowed-{suffix}",
        description=allowed_description,
        config=config,
        environs=tuple(get_environ(origin) for origin in allowed_origins),
        is_allowed=True,
    )
    disallowed = Workload(
        name=f"get-disallowed-{suffix}",
        description=f"GET, disallowed origin, {scope} allowed",
        config=config,
        environs=(get_environ(DISALLOWED_ORIGIN),),
    )
    return [allowed, disallowed]


# (scaled workload, one-origin workload it is compared with, target applies)
SCALE_COMPARISONS = (
    ("get-allowed-100-origins", "get-allowed", False),
    ("get-allowed-10000-origins", "get-allowed", True),
    ("get-allowed-patterns", "get-allowed", True),
    ("get-disallowed-100-origins", "get-disallowed", False),
    ("get-disallowed-10000-origins", "get-disallowed", True),
    ("get-disallowed-patterns", "get-disallowed", True),
    ("get-disallowed-rotating", "get-disallowed", True),
)
