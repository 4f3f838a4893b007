"""The logical tables every backend's bulk hooks speak.

A logical row is the JSON form (``model_dump(mode="json")`` plus the listed extra
columns) of one stored entity. Backends map their physical schema to these rows on
export and back on import, so data moves between any two backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from orcheo_storage.errors import ValidationError


@dataclass(frozen=True)
class LogicalTable:
    """A table name, its key columns (the row order) and its parents.

    A key column may be a dotted path into a nested object (``credential.id``).
    """

    name: str
    key: tuple[str, ...]
    parents: tuple[str, ...] = ()
    description: str = ""


LOGICAL_TABLES: tuple[LogicalTable, ...] = (
    LogicalTable("workflows", ("id",), (), "Workflow.model_dump(mode='json')"),
    LogicalTable("workflow_versions", ("id",), ("workflows",), "WorkflowVersion"),
    LogicalTable("workflow_runs", ("id",), ("workflows", "workflow_versions"), "WorkflowRun"),
    LogicalTable(
        "webhook_triggers", ("workflow_id",), ("workflows",), "{workflow_id, config: sealed doc}"
    ),
    LogicalTable(
        "cron_triggers", ("workflow_id",), ("workflows",), "{workflow_id, config: CronConfig}"
    ),
    LogicalTable(
        "cron_dispatch", ("workflow_id",), ("workflows",), "{workflow_id, last_dispatched_at}"
    ),
    LogicalTable(
        "retry_policies", ("workflow_id",), ("workflows",), "{workflow_id, policy: RetryPolicy}"
    ),
    LogicalTable("retry_attempts", ("run_id",), (), "{run_id, attempts}"),
    LogicalTable("listener_subscriptions", ("id",), ("workflows",), "ListenerSubscription"),
    LogicalTable(
        "listener_cursors", ("subscription_id",), ("listener_subscriptions",), "ListenerCursor"
    ),
    LogicalTable(
        "listener_dedupe",
        ("subscription_id", "dedupe_key"),
        ("listener_subscriptions",),
        "{subscription_id, dedupe_key, expires_at}",
    ),
    LogicalTable("remediation_candidates", ("id",), ("workflows",), "RemediationCandidate"),
    LogicalTable("run_histories", ("execution_id",), (), "RunHistoryRecord without steps"),
    LogicalTable(
        "run_history_steps",
        ("execution_id", "index"),
        ("run_histories",),
        "{execution_id, index, at, payload}",
    ),
    LogicalTable("service_tokens", ("identifier",), (), "ServiceToken"),
    LogicalTable("service_token_audit", ("seq",), (), "TokenAuditEvent plus seq (insertion order)"),
    LogicalTable("agentensor_checkpoints", ("id",), (), "AgentensorCheckpoint"),
    LogicalTable("vault_templates", ("id",), (), "CredentialTemplate"),
    LogicalTable(
        "vault_credentials",
        ("credential.id",),
        ("vault_templates",),
        "StoredCredential.model_dump(mode='json'), no extra columns; key is credential.id",
    ),
    LogicalTable(
        "vault_alerts", ("id",), ("vault_credentials", "vault_templates"), "GovernanceAlert"
    ),
    LogicalTable(
        "chat_threads",
        ("id",),
        (),
        "{id, title, created_at, updated_at, status, allowed_image_domains, metadata, workflow_id}",
    ),
    LogicalTable(
        "chat_items",
        ("thread_id", "ordinal"),
        ("chat_threads",),
        "{id, thread_id, ordinal, created_at, item}",
    ),
    LogicalTable(
        "chat_attachments",
        ("id",),
        ("chat_threads",),
        "{id, thread_id, storage_path, created_at, attachment}",
    ),
)

TABLES_BY_NAME = {t.name: t for t in LOGICAL_TABLES}


def dependency_order(names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Tables in an order where every parent comes before its children.

    Args:
        names: the tables to order (default: every logical table). Parents outside
            ``names`` are ignored; unknown names are kept after the known ones.

    Returns:
        A topological order, stable with respect to :data:`LOGICAL_TABLES`.
    """
    wanted = list(TABLES_BY_NAME) if names is None else list(names)
    chosen = set(wanted)
    ordered: list[str] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:  # pragma: no cover - LOGICAL_TABLES is acyclic
            raise ValueError(f"cycle in logical tables: {' -> '.join((*path, name))}")
        table = TABLES_BY_NAME.get(name)
        for parent in table.parents if table else ():
            if parent in chosen:
                visit(parent, (*path, name))
        done.add(name)
        ordered.append(name)

    for table in LOGICAL_TABLES:
        if table.name in chosen:
            visit(table.name, ())
    ordered.extend(n for n in wanted if n not in done)
    return ordered


def key_values(table: str, key: object, *, field: str = "keys") -> tuple[str | int, ...]:
    """A logical key of ``table`` as given to the bulk hooks, checked.

    Args:
        table: a logical table (its key columns give the key's width).
        key: a list (or tuple) of strings and integers, one per key column.
        field: the argument named in errors.

    Raises:
        ValidationError: the table is unknown, or the key is not a list of as many
            strings / integers as the table has key columns.
    """
    spec = TABLES_BY_NAME.get(table)
    if spec is None:
        raise ValidationError(f"unknown logical table {table!r}", field="table")
    width = len(spec.key)
    if not isinstance(key, list | tuple) or len(key) != width:
        raise ValidationError(f"a {table} key is a list of {width} value(s)", field=field)
    for part in key:
        if isinstance(part, bool) or not isinstance(part, str | int):
            raise ValidationError("key values must be strings or integers", field=field)
    return tuple(key)
