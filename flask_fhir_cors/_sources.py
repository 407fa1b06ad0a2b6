"""Sources of CORS settings for the commands: an app, the environment or a file."""

from __future__ import annotations

import dataclasses
import json
import runpy
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

import click
from flask import Flask, current_app, has_app_context
from flask.cli import ScriptInfo

from .errors import PolicyError, Problem
from .extension import EXTENSION_KEY
from .policy import CONFIG_PREFIX, SETTING_NAMES, CORSPolicy

CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class LoadedSettings:
    """``FHIR_CORS_*`` settings read for a command, with the source of each.

    ``values`` maps config keys to the raw values. ``sources`` describes where
    each key that is set came from. ``policy`` is the policy already in
    effect, when a Flask app has FhirCORS registered. ``problems`` lists the
    values that could not be read, or the problems of the PolicyError that
    loading the app raised.
    """

    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    policy: CORSPolicy | None = None
    problems: tuple[Problem, ...] = ()

    def source_of(self, key: str) -> str:
        """Return where the config key ``key`` came from, or ``default``."""
        return self.sources.get(key, "default")


def settings_from_app(app: Flask) -> LoadedSettings:
    """Read the ``FHIR_CORS_*`` keys of ``app.config`` and the policy in effect.

    Values that ``app.config.from_prefixed_env()`` loaded are in
    ``app.config`` too, so their source is ``config KEY`` as well.
    """
    values = {
        key: value for key, value in app.config.items() if key.startswith(CONFIG_PREFIX)
    }
    sources = {
        key: f"config {key}" for key, value in values.items() if value is not None
    }

    policy = app.extensions.get(EXTENSION_KEY)
    if isinstance(policy, CORSPolicy):
        return LoadedSettings(values, sources, policy)

    # Without the extension the app sends no CORS headers at all, so the
    # settings in its config describe nothing that runs.
    problem = Problem(
        "FhirCORS",
        app.name,
        "extension-not-registered",
        "FhirCORS is not registered on this app, so it sends no CORS headers; "
        "call FhirCORS(app) after setting the FHIR_CORS_* keys. For a "
        "CORSMiddleware added by hand, run python -m flask_fhir_cors with "
        "--settings instead",
    )
    return LoadedSettings(values, sources, None, (problem,))


def settings_from_environment(environ: Mapping[str, str]) -> LoadedSettings:
    """Read ``FHIR_CORS_*`` variables as the strings they are.

    The policy parses each string: a list separated by commas or newlines, or
    a JSON list when it starts with ``[``, a number, or ``true``/``false``.
    """
    values = {key: raw for key, raw in environ.items() if key.startswith(CONFIG_PREFIX)}
    sources = {key: f"env {key}" for key in values}
    return LoadedSettings(values, sources)


def settings_from_file(path: str) -> LoadedSettings:
    """Read ``FHIR_CORS_*`` keys from a JSON object file or a Python file.

    A ``.py`` file is run like Flask's ``app.config.from_pyfile`` and its
    ``FHIR_CORS_*`` variables are read. Any other file must contain a JSON
    object. Other keys are ignored, except a bare setting name such as
    ``origins``, which is reported because it was probably meant as a
    setting.
    """
    if path.endswith(".py"):
        namespace = runpy.run_path(path)
    else:
        namespace = _read_json_object(path)

    values = {
        key: value for key, value in namespace.items() if key.startswith(CONFIG_PREFIX)
    }
    sources = {
        key: f"file {path}" for key, value in values.items() if value is not None
    }
    problems = tuple(_misnamed_key_problems(namespace))
    return LoadedSettings(values, sources, None, problems)


def _read_json_object(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except json.JSONDecodeError as error:
        raise click.FileError(path, f"invalid JSON: {error}") from error
    except OSError as error:
        raise click.FileError(path, error.strerror or str(error)) from error

    if not isinstance(data, dict):
        raise click.FileError(
            path,
            "expected a JSON object such as "
            '{"FHIR_CORS_ORIGINS": ["https://app.example.com"]}',
        )
    return data


def _misnamed_key_problems(namespace: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for key in namespace:
        if key.startswith(CONFIG_PREFIX):
            continue

        name = key.upper()
        if name.startswith(CONFIG_PREFIX):
            name = name[len(CONFIG_PREFIX) :]
        if name.lower() not in SETTING_NAMES:
            continue

        expected = CONFIG_PREFIX + name
        problems.append(
            Problem(
                key,
                namespace[key],
                "unknown-setting",
                f"settings files use the config key names; rename it to {expected}",
            )
        )
    return problems


def settings_from_import(import_path: str) -> LoadedSettings:
    """Import a Flask app as ``flask --app`` does, catching a PolicyError.

    ``import_path`` takes the forms of ``flask --app``, such as
    ``module:app``, ``module:create_app()`` or ``path/app.py``. When the
    import or the factory raises PolicyError, because FhirCORS rejected the
    config, the result carries its problems instead of the app's settings.
    """
    info = ScriptInfo(app_import_path=import_path, set_debug_flag=False)
    try:
        app = info.load_app()
    except PolicyError as error:
        return LoadedSettings(problems=error.problems)

    return settings_from_app(app)


def settings_from_context() -> LoadedSettings:
    """Read the settings of the Flask app that ``flask`` loaded for a command.

    Uses the active app context when there is one. Otherwise the app is
    loaded through the command's :class:`~flask.cli.ScriptInfo`, and a
    PolicyError raised while loading it becomes the result's problems.
    """
    if has_app_context():
        return settings_from_app(current_app._get_current_object())  # type: ignore[attr-defined]

    info = click.get_current_context().ensure_object(ScriptInfo)
    try:
        app = info.load_app()
    except PolicyError as error:
        return LoadedSettings(problems=error.problems)

    return settings_from_app(app)


def validate(settings: LoadedSettings) -> list[Problem]:
    """Return every problem of ``settings``, or an empty list when they are valid."""
    problems = list(settings.problems)
    try:
        CORSPolicy.from_config(settings.values)
    except PolicyError as error:
        problems.extend(error.problems)
    return problems


def effective_policy(settings: LoadedSettings) -> CORSPolicy:
    """Return the policy in effect, building it from the values if needed.

    Raises PolicyError listing every problem when the settings are invalid.
    """
    if settings.problems:
        raise PolicyError(validate(settings))

    if settings.policy is not None:
        return settings.policy

    return CORSPolicy.from_config(settings.values)
