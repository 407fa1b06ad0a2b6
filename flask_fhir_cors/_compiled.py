"""The precomputed form of a policy that requests are evaluated against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._origins import ConfiguredOrigin, OriginMatcher
from ._settings import WILDCARD

if TYPE_CHECKING:
    from .policy import CORSPolicy

Header = tuple[str, str]


class CompiledPolicy:
    """Look-up sets and joined header values derived once from a policy.

    ``public`` is the compiled any-origin policy for the public paths, or
    None when the policy has no public paths. On that public policy,
    ``credentialed_origins`` matches the origins that the main policy grants
    credentials to, or is None when it grants none.
    ``actual_decisions`` caches the decision for each allowed origin that has
    made an actual request, and under None the decision for requests without
    an origin. It contains at most the listed origins, one entry for None and
    a bounded number of origins matched by subdomain patterns, counted in
    ``pattern_origins_cached``. ``preflight_decisions`` caches the decisions of
    preflights, keyed by the request without its path, and is emptied when
    it reaches its size limit.
    """

    __slots__ = (
        "any_origin",
        "matcher",
        "credentials",
        "any_method",
        "methods",
        "any_header",
        "headers",
        "methods_value",
        "headers_value",
        "max_age_value",
        "actual_tail",
        "wildcard_actual_headers",
        "preflight_tail",
        "allow_private_network",
        "debug",
        "public_exact",
        "public_prefixes",
        "public",
        "credentialed_origins",
        "actual_decisions",
        "preflight_decisions",
        "pattern_origins_cached",
    )

    def __init__(
        self, policy: CORSPolicy, parsed_origins: tuple[ConfiguredOrigin, ...]
    ) -> None:
        self.any_origin = policy.allows_any_origin
        self.matcher = OriginMatcher(parsed_origins)
        self.credentials = policy.allow_credentials
        self.allow_private_network = policy.allow_private_network
        self.debug = policy.debug

        self.any_method = policy.methods == (WILDCARD,)
        self.methods = frozenset(policy.methods)
        self.methods_value = ", ".join(policy.methods)

        self.any_header = policy.headers == (WILDCARD,)
        self.headers = frozenset(name.lower() for name in policy.headers)
        self.headers_value = ", ".join(policy.headers)

        self.max_age_value = None if policy.max_age is None else str(policy.max_age)
        self.actual_tail = _actual_tail(policy)
        self.wildcard_actual_headers = (
            ("Access-Control-Allow-Origin", "*"),
            *self.actual_tail,
        )
        self.preflight_tail = _preflight_tail(policy)

        self.public_exact, self.public_prefixes = _compile_paths(policy.public_paths)
        self.credentialed_origins: OriginMatcher | None = None
        self.actual_decisions: dict[str | None, Any] = {}
        self.preflight_decisions: dict[Any, Any] = {}
        self.pattern_origins_cached = 0
        self.public = _compile_public(policy, self.matcher)

    def is_public_path(self, path: str) -> bool:
        """Tell whether ``path`` is one of the public paths.

        ``path`` is the WSGI ``PATH_INFO``: percent-decoded by the server and
        relative to the application's mount point (``SCRIPT_NAME``). A path
        with ``.``, ``..`` or empty segments is never public under a prefix,
        because the application may resolve it to another resource.
        """
        if path in self.public_exact:
            return True

        for prefix in self.public_prefixes:
            if path.startswith(prefix) and _has_plain_segments(path):
                return True

        return False


def _actual_tail(policy: CORSPolicy) -> tuple[Header, ...]:
    headers: list[Header] = []
    if policy.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if policy.expose_headers:
        headers.append(
            ("Access-Control-Expose-Headers", ", ".join(policy.expose_headers))
        )
    return tuple(headers)


def _preflight_tail(policy: CORSPolicy) -> tuple[Header, ...]:
    headers: list[Header] = []
    if policy.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if policy.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(policy.max_age)))
    return tuple(headers)


def _compile_paths(paths: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    # PEP 3333 servers decode PATH_INFO bytes as latin-1, so a configured
    # non-ASCII path is compared in that form.
    wsgi_paths = [path.encode("utf-8").decode("latin-1") for path in paths]
    exact = frozenset(path for path in wsgi_paths if not path.endswith("/"))
    prefixes = tuple(path for path in wsgi_paths if path.endswith("/"))
    return exact, prefixes


def _has_plain_segments(path: str) -> bool:
    segments = path.split("/")[1:-1]
    return (
        "" not in segments
        and "." not in segments
        and ".." not in segments
        and (not path.endswith(("/.", "/..")))
    )


def _compile_public(
    policy: CORSPolicy, matcher: OriginMatcher
) -> CompiledPolicy | None:
    if not policy.public_paths:
        return None

    # Imported here because policy.py imports this module's compile step.
    from .policy import PUBLIC_METHODS, CORSPolicy

    public = CORSPolicy(
        origins=WILDCARD,
        methods=PUBLIC_METHODS,
        headers=policy.headers,
        expose_headers=policy.expose_headers,
        max_age=policy.max_age,
        public_paths=(),
    )
    compiled: CompiledPolicy = public._compiled  # type: ignore[attr-defined]

    # An origin that the main policy trusts with credentials keeps them on
    # public paths, because a page that always sends credentials would
    # otherwise be rejected by the '*' response there.
    if policy.allow_credentials:
        compiled.credentialed_origins = matcher
    return compiled
