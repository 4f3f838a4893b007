"""Hypothesis profiles of the contract suite: a fast everyday one and a deep one.

``orcheo-default`` keeps a full run on the memory backend well under a minute (CI and
daily use); ``orcheo-deep`` runs many more examples and much longer state-machine
programs (before a release, or when a backend changes its locking). Selected with
``--orcheo-profile default|deep``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

DEFAULT_PROFILE = "orcheo-default"
DEEP_PROFILE = "orcheo-deep"
PROFILES = {"default": DEFAULT_PROFILE, "deep": DEEP_PROFILE}

_SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.function_scoped_fixture,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]


NO_SHRINK_ENV = "ORCHEO_CONTRACT_NO_SHRINK"
"""Set to 1 to skip shrinking: a failing test stops at the first failing example, with the
same examples as without it. For runs that only need to know *whether* a backend fails
(mutation testing, broken-variant proofs), not the smallest program that shows it."""


def _phases() -> tuple[Phase, ...]:
    if os.environ.get(NO_SHRINK_ENV, "") == "1":
        return (Phase.explicit, Phase.reuse, Phase.generate)
    return tuple(Phase)


def register_profiles() -> None:
    """Register both profiles with Hypothesis (idempotent)."""
    # No example database: runs must leave the work tree clean; print_blob makes any
    # failure reproducible with @reproduce_failure instead.
    # In CI (CI=true) the default profile is derandomized, as Hypothesis's own "ci" profile
    # is: a landing run then sees the same examples as the run that proved it green, and
    # exploration happens in local runs and in the deep profile.
    settings.register_profile(
        DEFAULT_PROFILE,
        derandomize=os.environ.get("CI", "").lower() == "true",
        phases=_phases(),
        max_examples=15,
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=_SUPPRESSED,
        database=None,
        print_blob=True,
    )
    settings.register_profile(
        DEEP_PROFILE,
        phases=_phases(),
        max_examples=200,
        stateful_step_count=50,
        deadline=None,
        suppress_health_check=_SUPPRESSED,
        database=None,
        print_blob=True,
    )


def load_profile(name: str) -> str:
    """Register the profiles and make ``name`` (``default`` or ``deep``) the active one.

    Returns:
        The Hypothesis profile name that was loaded.

    Raises:
        ValueError: ``name`` is not a known profile.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown contract profile {name!r}; choose one of {sorted(PROFILES)}")
    register_profiles()
    settings.load_profile(PROFILES[name])
    return PROFILES[name]
