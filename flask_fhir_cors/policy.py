"""The immutable CORS policy that the middleware evaluates requests against."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from . import _settings
from ._origins import ConfiguredOrigin
from ._settings import WILDCARD, ProblemCollector
from .errors import PolicyError

CONFIG_PREFIX = "FHIR_CORS_"

SETTING_NAMES = (
    "origins",
    "methods",
    "headers",
    "expose_headers",
    "max_age",
    "allow_credentials",
    "public_paths",
    "allow_private_network",
    "unsafe_allow_http_origins",
    "unsafe_allow_public_suffix_patterns",
    "debug",
)

FLAG_SETTINGS = (
    "allow_credentials",
    "allow_private_network",
    "unsafe_allow_http_origins",
    "unsafe_allow_public_suffix_patterns",
    "debug",
)

DEFAULTS: dict[str, Any] = {
    "origins": _settings.DEFAULT_ORIGINS,
    "methods": _settings.DEFAULT_METHODS,
    "headers": _settings.DEFAULT_HEADERS,
    "expose_headers": _settings.DEFAULT_EXPOSE_HEADERS,
    "max_age": None,
    "allow_credentials": False,
    "public_paths": _settings.DEFAULT_PUBLIC_PATHS,
    "allow_private_network": False,
    "unsafe_allow_http_origins": False,
    "unsafe_allow_public_suffix_patterns": False,
    "debug": False,
}

# Methods that any origin may use on a public path.
PUBLIC_METHODS = ("GET", "HEAD")


@dataclasses.dataclass(frozen=True, init=False)
class CORSPolicy:
    """Validated, normalized CORS settings with every response header precomputed.

    Build it from keyword settings; each has the default listed in the
    configuration reference. List settings take a list of strings, or one
    string with items separated by newlines or commas (as pasted from the
    Azure portal or set in an environment variable). ``origins``,
    ``methods``, ``headers`` and ``expose_headers`` also take ``"*"``.

    Building raises :class:`~flask_fhir_cors.PolicyError` listing every
    invalid value. A policy never changes; :func:`dataclasses.replace` builds
    a changed copy, validated again.
    """

    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int | None
    allow_credentials: bool
    public_paths: tuple[str, ...]
    allow_private_network: bool
    unsafe_allow_http_origins: bool
    unsafe_allow_public_suffix_patterns: bool
    debug: bool

    def __init__(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(SETTING_NAMES))
        if unknown:
            raise TypeError(
                f"CORSPolicy() got unknown settings {unknown}; "
                f"the settings are {', '.join(SETTING_NAMES)}"
            )

        self._build(settings, {})

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], prefix: str = CONFIG_PREFIX
    ) -> CORSPolicy:
        """Build a policy from ``PREFIX_*`` keys, such as a Flask ``app.config``.

        Keys are the setting names in uppercase after ``prefix``, for example
        ``FHIR_CORS_ORIGINS``. A key with the prefix that names no setting is
        reported as a problem, so a typo never silently leaves a default.
        Problems name the config key, not the keyword argument.
        """
        names = config_key_names(prefix)
        keys = {key: setting for setting, key in names.items()}
        settings = {
            keys[key]: value
            for key, value in config.items()
            if key in keys and value is not None
        }
        unknown = {
            key: config[key]
            for key in sorted(config)
            if key.startswith(prefix) and key not in keys
        }

        policy = cls.__new__(cls)
        policy._build(settings, names, unknown)
        return policy

    def _build(
        self,
        settings: Mapping[str, Any],
        names: dict[str, str],
        unknown_keys: Mapping[str, Any] | None = None,
    ) -> None:
        collector = ProblemCollector(names)
        for key, value in (unknown_keys or {}).items():
            _report_unknown_key(key, value, sorted(names.values()), collector)

        values = {**DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}
        normalized, parsed_origins = _normalize(values, collector)
        _check_combinations(normalized, parsed_origins, collector)
        if collector.problems:
            raise PolicyError(collector.problems)

        for name, value in normalized.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_compiled", _compile(self, parsed_origins))

    @property
    def allows_any_origin(self) -> bool:
        """Whether every origin is allowed (``origins="*"``)."""
        return self.origins == (WILDCARD,)

    def settings(self) -> dict[str, Any]:
        """Return the normalized settings as keyword arguments for ``CORSPolicy``."""
        return {name: getattr(self, name) for name in SETTING_NAMES}

    def config_keys(self, prefix: str = CONFIG_PREFIX) -> dict[str, str]:
        """Return the config key of each setting name."""
        return config_key_names(prefix)


def config_key_names(prefix: str = CONFIG_PREFIX) -> dict[str, str]:
    """Return the config key of each setting name, such as FHIR_CORS_ORIGINS."""
    return {name: prefix + name.upper() for name in SETTING_NAMES}


def _report_unknown_key(
    key: str, value: Any, known: list[str], collector: ProblemCollector
) -> None:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    collector.add(
        key,
        value,
        "unknown-setting",
        f"no such setting; {hint}the known keys are {', '.join(known)}",
    )


def _normalize(
    values: Mapping[str, Any], collector: ProblemCollector
) -> tuple[dict[str, Any], tuple[ConfiguredOrigin, ...]]:
    origins, parsed_origins = _settings.normalize_origins(values["origins"], collector)
    normalized: dict[str, Any] = {
        "origins": origins,
        "methods": _settings.normalize_methods(values["methods"], collector),
        "headers": _settings.normalize_headers(values["headers"], collector),
        "expose_headers": _settings.normalize_expose_headers(
            values["expose_headers"], collector
        ),
        "max_age": _settings.normalize_max_age(values["max_age"], collector),
        "public_paths": _settings.normalize_public_paths(
            values["public_paths"], collector
        ),
    }
    for name in FLAG_SETTINGS:
        normalized[name] = _settings.normalize_flag(name, values[name], collector)

    return normalized, parsed_origins


def _check_combinations(
    normalized: Mapping[str, Any],
    parsed_origins: tuple[ConfiguredOrigin, ...],
    collector: ProblemCollector,
) -> None:
    suffix_opt_out = collector.assignment("unsafe_allow_public_suffix_patterns")
    for origin in parsed_origins:
        if (
            origin.is_pattern
            and origin.is_under_public_suffix
            and not normalized["unsafe_allow_public_suffix_patterns"]
        ):
            collector.add(
                "origins",
                origin.serialized,
                "origin-pattern-public-suffix",
                f"anyone can register a site under {origin.host!r}, so this pattern "
                "would trust strangers; list your own domain instead, such as "
                "'https://*.apps.example.com' (for security reasons this is only "
                f"allowed with {suffix_opt_out})",
            )

    if not normalized["allow_credentials"]:
        return

    if normalized["origins"] == (WILDCARD,):
        collector.add(
            "origins",
            WILDCARD,
            "credentials-wildcard-origin",
            "for security reasons '*' cannot be combined with "
            f"{collector.assignment('allow_credentials')}, "
            "because it would let every site act as the signed-in user; list the "
            "trusted origins, or turn credentials off and send tokens in the "
            "Authorization header",
        )

    if normalized["expose_headers"] == (WILDCARD,):
        collector.add(
            "expose_headers",
            WILDCARD,
            "credentials-wildcard-expose",
            "with credentials, browsers read '*' as a header literally named '*' and "
            "expose nothing; list the header names",
        )

    if not normalized["unsafe_allow_http_origins"]:
        for origin in parsed_origins:
            if origin.scheme == "http" and not origin.is_loopback:
                collector.add(
                    "origins",
                    origin.serialized,
                    "origin-insecure-with-credentials",
                    "for security reasons an http:// origin cannot receive "
                    "credentialed responses, because anyone on the network can "
                    "inject script into it; serve the page over https (http is "
                    "allowed for localhost, 127.0.0.1 and [::1], or with "
                    f"{collector.assignment('unsafe_allow_http_origins')})",
                )


def _compile(policy: CORSPolicy, parsed_origins: tuple[ConfiguredOrigin, ...]) -> Any:
    # Imported here because the compiled form refers back to CORSPolicy.
    from ._compiled import CompiledPolicy

    return CompiledPolicy(policy, parsed_origins)
