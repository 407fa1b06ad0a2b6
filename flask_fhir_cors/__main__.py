"""Run ``python -m flask_fhir_cors show|check|explain`` for any WSGI app."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="python -m flask_fhir_cors")
