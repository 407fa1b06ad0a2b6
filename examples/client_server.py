"""Static file server for the demo browser client in examples/client/.

Run it with ``gunicorn --bind 127.0.0.1:8001 examples.client_server:app`` so that the
page has an origin different from the FHIR API's. It serves files only and sends no
CORS headers, because the browser never makes a cross-origin request to it.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response

CLIENT_DIR = Path(__file__).resolve().parent / "client"


def create_app() -> Flask:
    """Build an app that serves examples/client/ at the site root."""
    app = Flask(__name__, static_folder=str(CLIENT_DIR), static_url_path="")

    @app.get("/")
    def index() -> Response:
        return app.send_static_file("index.html")

    @app.after_request
    def disable_caching(response: Response) -> Response:
        # The page and script change while the demo is being edited, so a reload
        # must fetch them again.
        response.headers["Cache-Control"] = "no-cache"
        return response

    return app


app = create_app()
