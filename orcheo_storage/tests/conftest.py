"""Hypothesis profiles for the core tests.

``orcheo-core`` (default): 100 examples, no deadline (the test machines are small and shared,
so wall-clock deadlines only make property tests flaky). ``orcheo-core-deep``: 2,000 examples,
for a thorough run: ``ORCHEO_HYPOTHESIS_PROFILE=orcheo-core-deep pytest orcheo_storage/tests``.
"""

from __future__ import annotations

import os

from hypothesis import settings

# Derandomized in CI (CI=true), like Hypothesis's own "ci" profile: reproducible landings.
settings.register_profile(
    "orcheo-core",
    max_examples=100,
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
)
settings.register_profile("orcheo-core-deep", max_examples=2_000, deadline=None)
settings.load_profile(os.environ.get("ORCHEO_HYPOTHESIS_PROFILE", "orcheo-core"))
