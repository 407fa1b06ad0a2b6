"""Cross-Origin Resource Sharing for FHIR servers on Flask or any WSGI app."""

from .decision import CORSRequest, Decision, Step, decide
from .errors import PolicyError, Problem
from .extension import FhirCORS
from .middleware import CORSMiddleware
from .policy import CORSPolicy

__version__ = "0.1.0"

__all__ = [
    "CORSMiddleware",
    "CORSPolicy",
    "CORSRequest",
    "Decision",
    "FhirCORS",
    "PolicyError",
    "Problem",
    "Step",
    "decide",
]
