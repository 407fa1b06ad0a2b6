"""Shared pytest setup: Hypothesis profiles chosen by ``HYPOTHESIS_PROFILE``.

``ci`` (the default) runs 200 examples per property, and ``long`` runs
100,000 for a thorough local search. Neither has a deadline, because a busy
machine can make a single example slow without any bug.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile(
    "long",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
