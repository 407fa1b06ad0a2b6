"""Demo FHIR API and browser client for flask-fhir-cors."""
