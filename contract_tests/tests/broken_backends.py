"""Deliberately broken variants of the memory backend, each with one realistic bug.

Loaded into a contract-suite run with ``-p broken_backends`` (this folder on
``PYTHONPATH``); its ``pytest_orcheo_storage_registry`` hook registers every variant as
``broken-<name>`` plus the unbroken control ``broken-none``. Each variant swaps one store
of a memory session for a subclass with one defect: the first set is in
``bugs_atomicity_and_time.py``, the scope / exact-match / order / fidelity / filter /
copy set in ``bugs_scope_order_fidelity.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bugs_atomicity_and_time as classic  # type: ignore[import-not-found,unused-ignore]
import bugs_scope_order_fidelity as power  # type: ignore[import-not-found,unused-ignore]
import pytest
from orcheo_storage.keys import cipher_for
from orcheo_storage.memory.plugin import MemoryBackend
from orcheo_storage.memory.session import MemorySession
from orcheo_storage.memory.workflows import MemoryWorkflowRepository
from orcheo_storage.plugins.hookspecs import hookimpl
from orcheo_storage.plugins.registry import BackendRegistry
from orcheo_storage.protocols.backend import BackendManifest, Subsystem
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings

# --- the proof's results table (shared by conftest and the proof test) ------------------------------

CAUGHT_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()


def caught_table(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """The broken-variant results of this run (variant -> failed count, catching tests)."""
    return config.stash.setdefault(CAUGHT_KEY, {})


# --- wiring ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One broken backend: which session attribute gets which store class, and the suite
    module whose tests are meant to catch it."""

    name: str
    bug: str
    attribute: str
    store: type[Any]
    module: str
    expected: str = ""
    """The test written to catch this kind of bug; it must be among the failures."""


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "off-by-one-pagination",
        "run pages skip the row at each page boundary",
        "_workflows",
        classic.OffByOnePagination,
        "test_runs.py",
        "test_runs.py::test_list_runs_newest_first_with_keyset_pages",
    ),
    Variant(
        "dropped-microsecond",
        "dispatch times kept to the millisecond",
        "_triggers",
        classic.DroppedMicrosecond,
        "test_triggers.py",
        "test_triggers.py::test_cron_dispatch_compare_and_set",
    ),
    Variant(
        "dropped-timezone",
        "UTC offset discarded instead of converted",
        "_triggers",
        classic.DroppedTimezone,
        "test_triggers.py",
        "test_triggers.py::test_cron_dispatch_reads_offsets_and_naive_times_as_utc",
    ),
    Variant(
        "expired-token-active",
        "expired tokens listed as active",
        "_tokens",
        classic.ExpiredTokenActive,
        "test_tokens.py",
        "test_tokens.py::test_list_active_excludes_expired_and_revoked",
    ),
    Variant(
        "non-atomic-version-number",
        "read-then-insert version numbers",
        "_workflows",
        classic.NonAtomicVersionNumber,
        "test_versions.py",
        "test_versions.py::test_concurrent_creates_are_gapless",
    ),
    Variant(
        "lost-is-best-reset",
        "previous best checkpoint not cleared",
        "_agentensor",
        classic.LostIsBestReset,
        "test_agentensor.py",
        "test_agentensor.py::test_is_best_clears_previous_best",
    ),
    Variant(
        "handle-ignores-archived",
        "archived holders still block a handle",
        "_workflows",
        classic.HandleCheckIgnoresArchived,
        "test_workflows.py",
        "test_workflows.py::test_archived_holder_does_not_block_reuse",
    ),
    Variant(
        "claim-two-winners",
        "lease check and write not atomic",
        "_listeners",
        classic.ClaimTwoWinners,
        "test_listeners.py",
        "test_listeners.py::test_racing_claims_have_exactly_one_winner",
    ),
    Variant(
        "step-index-reused",
        "step index reused after a rejected append",
        "_history",
        classic.StepIndexReusedAfterFailure,
        "test_history.py",
        "test_history.py::test_step_index_not_reused_or_skipped_after_rejected_append",
    ),
    Variant(
        "shallow-copy-returned",
        "returned workflows share stored lists",
        "_workflows",
        classic.ShallowCopyReturned,
        "test_workflows.py",
        "test_workflows.py::test_returned_workflows_are_copies",
    ),
    Variant(
        "raw-driver-error",
        "sqlite3.IntegrityError escapes untranslated",
        "_workflows",
        classic.RawDriverErrorLeaks,
        "test_workflows.py",
        "test_workflows.py::test_active_handle_conflicts_and_writes_nothing",
    ),
    Variant(
        "dedupe-left-behind",
        "failed dispatch keeps its dedupe key",
        "_listeners",
        classic.DedupeLeftBehind,
        "test_listeners.py",
        "test_listeners.py::test_failed_dispatch_leaves_no_dedupe_record",
    ),
    Variant(
        "apply-changes-row-by-row",
        "a batch of changes is not atomic",
        "_bulk",
        classic.ApplyChangesRowByRow,
        "test_bulk_changes.py",
        "test_bulk_changes.py::test_a_bad_row_leaves_nothing_of_the_batch",
    ),
    Variant(
        "version-number-any-workflow",
        "1 scope: a version number looked up in every workflow",
        "_workflows",
        power.VersionNumberFromAnyWorkflow,
        "test_workflows_model.py",
        "test_workflows_model.py::test_workflows_model_state_machine",
    ),
    Variant(
        "item-deleted-from-any-thread",
        "1 scope: an item deleted through another thread",
        "_chat",
        power.ItemDeletedFromAnyThread,
        "test_chatkit_model.py",
        "test_chatkit_model.py::test_chat_state_machine",
    ),
    Variant(
        "dedupe-key-shared",
        "1 scope: dedupe keys shared across subscriptions",
        "_listeners",
        power.DedupeKeySharedAcrossSubscriptions,
        "test_listeners_model.py",
        "test_listeners_model.py::test_listeners_model_state_machine",
    ),
    Variant(
        "sync-disables-other-workflows",
        "1 scope: a sync disables other workflows' subscriptions",
        "_listeners",
        power.SyncDisablesOtherWorkflows,
        "test_listeners_model.py",
        "test_listeners_model.py::test_listeners_model_state_machine",
    ),
    Variant(
        "alert-keyed-without-template",
        "1 scope: an open alert matched without its template",
        "_vault",
        power.AlertKeyedWithoutTemplate,
        "test_vault_model.py",
        "test_vault_model.py::test_vault_state_machine",
    ),
    Variant(
        "idempotency-across-closed",
        "1 scope: remediation idempotency reaches closed candidates",
        "_remediations",
        power.IdempotentAcrossClosedCandidates,
        "test_remediations_model.py",
        "test_remediations_model.py::test_remediations_model_state_machine",
    ),
    Variant(
        "token-hash-prefix",
        "2 exact match: a token found by a prefix of its hash",
        "_tokens",
        power.TokenHashPrefixMatch,
        "test_tokens_model.py",
        "test_tokens_model.py::test_tokens_model_state_machine",
    ),
    Variant(
        "token-id-16-chars",
        "2 exact match: identifiers compared on 16 characters",
        "_tokens",
        power.TokenIdFirst16Chars,
        "test_tokens_model.py",
        "test_tokens_model.py::test_tokens_model_state_machine",
    ),
    Variant(
        "credential-name-width-folded",
        "2 exact match: a fullwidth credential name clashes",
        "_vault",
        power.CredentialNameWidthFolded,
        "test_vault_model.py",
        "test_vault_model.py::test_vault_state_machine",
    ),
    Variant(
        "runs-without-tie-break",
        "3 order: runs of one instant in insertion order",
        "_workflows",
        power.RunsWithoutTieBreak,
        "test_workflows_model.py",
        "test_workflows_model.py::test_workflows_model_state_machine",
    ),
    Variant(
        "limit-before-status-filter",
        "3 limits: the limit applied before the status filter",
        "_remediations",
        power.LimitBeforeStatusFilter,
        "test_remediations_model.py",
        "test_remediations_model.py::test_remediations_model_state_machine",
    ),
    Variant(
        "checkpoints-by-created-at",
        "3 order: checkpoints sorted by the wrong column",
        "_agentensor",
        power.CheckpointsByCreatedAt,
        "test_agentensor_model.py",
        "test_agentensor_model.py::test_agentensor_model_state_machine",
    ),
    Variant(
        "integral-floats-become-ints",
        "4 fidelity: 2.0 comes back as 2",
        "_workflows",
        power.IntegralFloatsBecomeInts,
        "test_workflows_model.py",
        "test_workflows_model.py::test_workflows_model_state_machine",
    ),
    Variant(
        "started-at-milliseconds",
        "4 fidelity: a start time truncated to milliseconds",
        "_history",
        power.StartedAtInMilliseconds,
        "test_history_model.py",
        "test_history_model.py::test_history_state_machine",
    ),
    Variant(
        "update-keeps-updated-at",
        "4 fidelity: an update that does not move updated_at",
        "_workflows",
        power.UpdateKeepsUpdatedAt,
        "test_workflows_model.py",
        "test_workflows_model.py::test_workflows_model_state_machine",
    ),
    Variant(
        "item-add-leaves-thread",
        "4 fidelity: adding an item does not touch its thread",
        "_chat",
        power.ItemAddLeavesThreadUntouched,
        "test_chatkit_model.py",
        "test_chatkit_model.py::test_chat_state_machine",
    ),
    Variant(
        "status-filter-ignored",
        "5 filters: a status filter silently ignored",
        "_remediations",
        power.StatusFilterIgnored,
        "test_remediations_model.py",
        "test_remediations_model.py::test_remediations_model_state_machine",
    ),
    Variant(
        "shallow-containment",
        "5 filters: JSON containment one level deep",
        "_agentensor",
        power.ShallowContainment,
        "test_agentensor_model.py",
        "test_agentensor_model.py::test_agentensor_model_state_machine",
    ),
    Variant(
        "unknown-token-usage-ignored",
        "6 errors: usage of an unknown token succeeds",
        "_tokens",
        power.UnknownTokenUsageIgnored,
        "test_tokens_model.py",
        "test_tokens_model.py::test_tokens_model_state_machine",
    ),
    Variant(
        "checkpoint-aliases-state",
        "6 copies: a returned checkpoint is the stored one",
        "_agentensor",
        power.CheckpointAliasesState,
        "test_agentensor_model.py",
        "test_agentensor_model.py::test_agentensor_model_state_machine",
    ),
)
CONTROL = Variant(
    "none", "no bug: the wrapper machinery alone", "_workflows", MemoryWorkflowRepository, ""
)


class VariantBackend(MemoryBackend):
    """The memory backend with one store swapped for a broken subclass."""

    def __init__(self, variant: Variant) -> None:
        self.variant = variant

    @property
    def manifest(self) -> BackendManifest:
        base = super().manifest
        return base.model_copy(
            update={"name": f"broken-{self.variant.name}", "description": self.variant.bug}
        )

    async def open(self, settings: StorageSettings) -> MemorySession:
        session = MemorySession(cipher_for(settings))
        state = session._open_state()
        setattr(session, self.variant.attribute, self.variant.store(state))
        return session

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        return _provision(settings, self.manifest.name)


@asynccontextmanager
async def _provision(settings: StorageSettings, name: str) -> AsyncIterator[StorageSettings]:
    yield settings.model_copy(update=dict.fromkeys(BACKEND_SETTINGS, name))


class WorkflowsOnlyBackend(VariantBackend):
    """The control, declaring only the workflows subsystem (to check subsystem skips)."""

    @property
    def manifest(self) -> BackendManifest:
        return super().manifest.model_copy(
            update={"name": "broken-workflows-only", "subsystems": frozenset({Subsystem.WORKFLOWS})}
        )


class VariantPlugin:
    """A pluggy plugin object providing one variant."""

    def __init__(self, backend: VariantBackend) -> None:
        self._backend = backend

    @hookimpl
    def orcheo_storage_backend(self) -> VariantBackend:
        return self._backend


# --- installing the variants through the entry point, like a third-party distribution -----------

DISTRIBUTION = "orcheo-storage-broken-variants"


def __getattr__(attr: str) -> VariantPlugin:
    """Entry-point targets: ``plugin_<variant name with _ for ->`` is that variant's plugin."""
    if attr.startswith("plugin_"):
        name = attr.removeprefix("plugin_").replace("_", "-")
        for variant in (*VARIANTS, CONTROL):
            if variant.name == name:
                return VariantPlugin(VariantBackend(variant))
    raise AttributeError(attr)


def write_distribution(folder: Path) -> Path:
    """Write the metadata of an installed distribution ``orcheo-storage-broken-variants``
    into ``folder``, declaring one ``orcheo.storage`` entry point per variant (and the
    control): with ``folder`` and this one on ``PYTHONPATH``, the plugin host discovers
    every ``broken-<name>`` backend exactly as it discovers a pip-installed one."""
    info = folder / "orcheo_storage_broken_variants-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    lines = [
        f"broken-{v.name} = broken_backends:plugin_{v.name.replace('-', '_')}"
        for v in (*VARIANTS, CONTROL)
    ]
    (info / "entry_points.txt").write_text(
        "[orcheo.storage]\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    return folder


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Skip Hypothesis shrinking: the proofs only need to know *that* a test fails."""
    from hypothesis import Phase, settings

    base = settings.get_profile(settings.get_current_profile_name())
    settings.register_profile(
        "orcheo-proof", parent=base, phases=[Phase.explicit, Phase.reuse, Phase.generate]
    )
    settings.load_profile("orcheo-proof")


def pytest_orcheo_storage_registry(registry: BackendRegistry, config: pytest.Config) -> None:
    """Register ``broken-<name>`` for every variant and ``broken-none`` (the control), unless
    the distribution written by :func:`write_distribution` already installed them."""
    installed = set(registry.names())
    for variant in (*VARIANTS, CONTROL):
        if f"broken-{variant.name}" in installed:
            continue
        registry.register_backend(
            VariantPlugin(VariantBackend(variant)), name=f"broken-{variant.name}"
        )
    registry.register_backend(
        VariantPlugin(WorkflowsOnlyBackend(CONTROL)), name="broken-workflows-only"
    )
