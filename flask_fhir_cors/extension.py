"""The Flask extension that reads a CORS policy from ``app.config``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .middleware import CORSMiddleware
from .policy import CONFIG_PREFIX, CORSPolicy

if TYPE_CHECKING:
    from flask import Flask

EXTENSION_KEY = "fhir_cors"

# Config key prefix of flask-cors, whose settings this extension does not read.
FLASK_CORS_PREFIX = "CORS_"

logger = logging.getLogger("flask_fhir_cors")


class FhirCORS:
    """Apply the CORS policy in ``app.config`` to every response of a Flask app.

    ``FhirCORS(app)`` registers at once; ``FhirCORS()`` followed by
    ``init_app(app)`` suits application factories. The extension keeps no
    reference to the app, so one instance may serve several apps.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> CORSPolicy:
        """Build the policy from ``FHIR_CORS_*`` config keys and wrap the app.

        The config is read once, here: later changes to ``app.config`` have
        no effect. The policy is stored in ``app.extensions["fhir_cors"]`` and
        ``app.wsgi_app`` is wrapped in :class:`CORSMiddleware`, so the policy
        applies to every response, errors included, and the middleware
        responds to preflights before any Flask code runs. The
        ``flask fhir-cors`` commands are added to ``app.cli``.

        Raises :class:`~flask_fhir_cors.PolicyError` for invalid settings and
        :class:`RuntimeError` when the app is already registered.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"FhirCORS is already registered on the app {app.name!r}; call "
                "FhirCORS(app) or init_app(app) once per app, and build a new "
                "app to change the policy"
            )

        policy = CORSPolicy.from_config(app.config, CONFIG_PREFIX)
        _warn_about_other_cors_keys(app)
        app.wsgi_app = CORSMiddleware(app.wsgi_app, policy)  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = policy

        # Imported here because the commands module imports this one.
        from .cli import flask_cli

        app.cli.add_command(flask_cli)
        return policy


def _warn_about_other_cors_keys(app: Flask) -> None:
    keys = sorted(key for key in app.config if key.startswith(FLASK_CORS_PREFIX))
    if keys:
        logger.warning(
            "FhirCORS does not read the flask-cors config keys %s of app %r; "
            "set the FHIR_CORS_* keys instead, such as FHIR_CORS_ORIGINS",
            ", ".join(keys),
            app.name,
        )
