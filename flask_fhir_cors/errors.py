"""Errors raised when a CORS policy is built from invalid settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Problem:
    """One invalid setting value found while building a policy.

    ``setting`` is the name the user wrote: the keyword argument of
    :class:`~flask_fhir_cors.CORSPolicy`, or the config key when the settings
    came from ``app.config``. ``code`` is a stable identifier that tests and
    tools can match on without parsing ``message``, which states how to fix it.
    """

    setting: str
    value: Any
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.setting} = {self.value!r}: {self.message} [{self.code}]"


class PolicyError(ValueError):
    """Raised when a policy cannot be built, listing every problem at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        heading = f"Invalid CORS settings ({count} problem{'s' if count != 1 else ''}):"
        lines = [heading, *(f"  - {problem}" for problem in self.problems)]
        super().__init__("\n".join(lines))

    @property
    def codes(self) -> list[str]:
        """The codes of all problems, in the order they were found."""
        return [problem.code for problem in self.problems]
