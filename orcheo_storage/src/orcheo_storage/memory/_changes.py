"""``apply_changes`` of the memory backend: deletes and in-place upserts, all or nothing.

Each logical table gets a :class:`ChangeSpec` next to its :class:`~._rows.TableSpec`: how
a logical key (the JSON values ``row_key`` gives) becomes the state's key, where the row
with a logical key is stored, and how one row is taken out of the state together with
its secondary-index entries. Every write of a batch is recorded in an undo log; when any
row fails, the log is played back, so the state is exactly as before the call.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from orcheo_storage.errors import DuplicateError, HandleConflictError, ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.memory._rows import TableSpec
from orcheo_storage.memory._state import MemoryState
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.models.workflows import Workflow

Kind = type[UUID] | type[str] | type[int]


@dataclass(frozen=True)
class ChangeSpec:
    """How deletes and upserts find and take out the rows of one logical table.

    Attributes:
        kinds: the type of each key column (``UUID``, ``str`` or ``int``).
        remove: takes the row with this state key out (indexes too) and returns its
            entry in the form :attr:`TableSpec.put` accepts.
        logical: the logical key (as :meth:`parse_key` returns it) of a parsed entry;
            ``None`` when it is the state key itself.
        find: the state key of the row holding a logical key, or ``None``; by default
            the logical key when :attr:`TableSpec.exists`.
        check: raises a typed error when putting the entry would break a uniqueness rule
            other than the key (handles, token hashes).
    """

    kinds: tuple[Kind, ...]
    remove: Callable[[MemoryState, Any], Any]
    logical: Callable[[Any], Hashable] | None = None
    find: Callable[[MemoryState, Any], Hashable | None] | None = None
    check: Callable[[MemoryState, Any], None] | None = None

    def parse_key(self, table: str, key: object) -> Hashable:
        """The state form of a logical key: a scalar for one column, else a tuple.

        Raises:
            ValidationError: wrong arity, or a value of the wrong type.
        """
        if not isinstance(key, list | tuple) or len(key) != len(self.kinds):
            raise ValidationError(
                f"a {table} key is a list of {len(self.kinds)} value(s)", field="deletes"
            )
        parts = tuple(_part(kind, value) for kind, value in zip(self.kinds, key, strict=True))
        return parts[0] if len(parts) == 1 else parts


def _part(kind: Kind, value: object) -> Hashable:
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValidationError("key value must be an integer", field="deletes")
    if not isinstance(value, str):
        raise ValidationError("key value must be a string", field="deletes")
    if kind is UUID:
        try:
            return UUID(value)
        except ValueError:
            raise ValidationError("key value is not a UUID", field="deletes") from None
    return value


# --- removing one row --------------------------------------------------------------------------


def _pop(attr: str) -> Callable[[MemoryState, Any], Any]:
    """A model table: the entry is the model."""
    return lambda state, key: getattr(state, attr).pop(key)


def _pop_pair(attr: str) -> Callable[[MemoryState, Any], Any]:
    """A ``{key: value}`` table whose entries are ``(key, value)``."""
    return lambda state, key: (key, getattr(state, attr).pop(key))


def _remove_workflow(state: MemoryState, key: UUID) -> Workflow:
    workflow = state.workflows.pop(key)
    if workflow.handle and state.active_handles.get(workflow.handle) == key:
        del state.active_handles[workflow.handle]
    return workflow


def _remove_version(state: MemoryState, key: UUID) -> Any:
    version = state.versions.pop(key)
    numbers = state.versions_by_workflow.get(version.workflow_id, {})
    if numbers.get(version.version) == key:
        del numbers[version.version]
    return version


def _remove_run(state: MemoryState, key: UUID) -> Any:
    run = state.runs.pop(key)
    _discard_sorted(state.runs_by_workflow.get(run.workflow_id, []), (run.created_at, key))
    return run


def _remove_history(state: MemoryState, key: str) -> Any:
    record = state.histories.pop(key)
    _discard_sorted(
        state.histories_by_workflow.get(record.workflow_id, []), (record.started_at, key)
    )
    if not state.steps.get(key):  # steps (children) stay; an empty list is bookkeeping
        state.steps.pop(key, None)
    return record


def _discard_sorted(keys: list[Any], key: Any) -> None:
    at = bisect.bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        del keys[at]


def _remove_step(state: MemoryState, key: tuple[str, int]) -> Any:
    steps = state.steps[key[0]]
    at = next(i for i, step in enumerate(steps) if step.index == key[1])
    return key[0], steps.pop(at)


def _remove_token(state: MemoryState, key: str) -> ServiceToken:
    token = state.tokens.pop(key)
    if state.token_hashes.get(token.secret_hash) == key:
        del state.token_hashes[token.secret_hash]
    return token


def _remove_audit(state: MemoryState, key: int) -> Any:
    at = next(i for i, (seq, _) in enumerate(state.token_audit) if seq == key)
    return state.token_audit.pop(at)


def _remove_item(state: MemoryState, key: str) -> Any:
    row = state.items[key]
    state.drop_item(key)
    return key, row


def _find_item(state: MemoryState, key: tuple[str, int]) -> str | None:
    for item_id in state.items_by_thread.get(key[0], ()):
        if state.items[item_id].ordinal == key[1]:
            return item_id
    return None


# --- uniqueness beyond the key -----------------------------------------------------------------


def _check_handle(state: MemoryState, workflow: Workflow) -> None:
    if workflow.handle is None or workflow.is_archived:
        return
    holder = state.active_handles.get(workflow.handle)
    if holder is not None and holder != workflow.id:
        raise HandleConflictError(workflow.handle)


def _check_hash(state: MemoryState, token: ServiceToken) -> None:
    holder = state.token_hashes.get(token.secret_hash)
    if holder is not None and holder != token.identifier:
        # The key is the identifier only: never echo a secret hash in an error.
        raise DuplicateError("service token secret hash", "<redacted>")


_ID = (UUID,)
CHANGE_SPECS: dict[str, ChangeSpec] = {
    "workflows": ChangeSpec(_ID, _remove_workflow, check=_check_handle),
    "workflow_versions": ChangeSpec(_ID, _remove_version),
    "workflow_runs": ChangeSpec(_ID, _remove_run),
    "webhook_triggers": ChangeSpec(_ID, _pop_pair("webhooks")),
    "cron_triggers": ChangeSpec(_ID, _pop_pair("crons")),
    "cron_dispatch": ChangeSpec(_ID, _pop_pair("cron_dispatch")),
    "retry_policies": ChangeSpec(_ID, _pop_pair("retry_policies")),
    "retry_attempts": ChangeSpec(_ID, _pop_pair("retry_attempts")),
    "listener_subscriptions": ChangeSpec(_ID, _pop("subscriptions")),
    "listener_cursors": ChangeSpec(_ID, _pop("cursors")),
    "listener_dedupe": ChangeSpec((UUID, str), _pop_pair("dedupe")),
    "remediation_candidates": ChangeSpec(_ID, _pop("candidates")),
    "run_histories": ChangeSpec((str,), _remove_history),
    "run_history_steps": ChangeSpec((str, int), _remove_step),
    "service_tokens": ChangeSpec((str,), _remove_token, check=_check_hash),
    "service_token_audit": ChangeSpec((int,), _remove_audit),
    "agentensor_checkpoints": ChangeSpec(_ID, _pop("checkpoints")),
    "vault_templates": ChangeSpec(_ID, _pop("templates")),
    "vault_credentials": ChangeSpec(_ID, _pop("credentials")),
    "vault_alerts": ChangeSpec(_ID, _pop("alerts")),
    "chat_threads": ChangeSpec((str,), _pop("threads")),
    "chat_items": ChangeSpec(
        (str, int),
        _remove_item,
        logical=lambda entry: (entry[1].thread_id, entry[1].ordinal),
        find=_find_item,
    ),
    "chat_attachments": ChangeSpec((str,), _pop("attachments")),
}


# --- applying a batch --------------------------------------------------------------------------


def apply_changes(
    state: MemoryState,
    table: str,
    spec: TableSpec,
    upserts: list[JsonObject],
    deletes: list[list[JsonValue]],
) -> None:
    """Delete, then upsert, in ``state``; on any error the state is left as it was.

    Raises:
        ValidationError: a row or key is malformed.
        ConflictError: two upserts share a key, or a row breaks a uniqueness rule.
    """
    change = CHANGE_SPECS[table]
    doomed = [change.parse_key(table, key) for key in deletes]
    logical = change.logical or spec.key
    parsed: list[tuple[Hashable, Any]] = []
    seen: set[Hashable] = set()
    for row in upserts:
        if not isinstance(row, dict):
            raise ValidationError("a row must be a JSON object", field=table)
        entry = spec.parse(row)
        key = logical(entry)
        if key in seen:
            raise DuplicateError(f"{table} row", key)
        seen.add(key)
        parsed.append((key, entry))
    _Batch(state, table, spec, change).run(doomed, parsed)


class _Batch:
    """One batch's writes with their undo log."""

    def __init__(self, state: MemoryState, table: str, spec: TableSpec, change: ChangeSpec) -> None:
        self._state, self._table, self._spec, self._change = state, table, spec, change
        self._log: list[tuple[bool, Any]] = []  # (was put, entry), in write order

    def _find(self, key: Hashable) -> Hashable | None:
        if self._change.find is not None:
            return self._change.find(self._state, key)
        return key if self._spec.exists(self._state, key) else None

    def _remove(self, key: Hashable) -> None:
        found = self._find(key)
        if found is not None:
            self._log.append((False, self._change.remove(self._state, found)))

    def run(self, doomed: list[Hashable], parsed: list[tuple[Hashable, Any]]) -> None:
        audit_seq = self._state.token_audit_seq
        try:
            for key in doomed:
                self._remove(key)
            for key, entry in parsed:
                self._remove(key)
                own = self._spec.key(entry)
                if self._spec.exists(self._state, own):  # held by a row of another key
                    raise DuplicateError(f"{self._table} row", own)
                if self._change.check is not None:
                    self._change.check(self._state, entry)
                self._spec.put(self._state, entry)
                self._log.append((True, entry))
        except BaseException:
            for was_put, entry in reversed(self._log):
                if was_put:
                    self._change.remove(self._state, self._spec.key(entry))
                else:
                    self._spec.put(self._state, entry)
            self._state.token_audit_seq = audit_seq
            raise
