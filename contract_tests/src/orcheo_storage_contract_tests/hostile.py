"""Hostile calls of the public store API: the surfaces, a seeded namespace, argument values.

Every public async method of every store a :class:`~orcheo_storage.storage.Storage` hands
out (the protocols, the credential vault, the ChatKit store) is called with arguments
derived from its annotations: benign values (seeded ids, plain text), unknown ids, and
hostile values for the parameter's kind (NUL and lone surrogates, integers past 64 bits,
non-finite and huge durations, wrong enum names, malformed JSON filters, models built
without validation). :func:`snapshot` reads every logical table through the backend's
bulk hooks, so "nothing was written" can be checked on any backend.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_args, get_origin

from orcheo_storage.boundary import check_for, resolved_hints
from orcheo_storage.jsoncodec import dumps
from orcheo_storage.migration.tables import LOGICAL_TABLES
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.common import StorageModel
from orcheo_storage.models.listeners import ListenerSubscriptionSpec
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.protocols.agentensor import AgentensorStore
from orcheo_storage.protocols.backend import Capability
from orcheo_storage.protocols.chat import ChatStore
from orcheo_storage.protocols.coordination import ListenerStore, RemediationStore, TriggerStore
from orcheo_storage.protocols.history import HistoryStore
from orcheo_storage.protocols.tokens import ServiceTokenStore
from orcheo_storage.protocols.workflows import WorkflowRepository
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.rules.workflows import WorkflowChanges
from orcheo_storage.storage import Storage
from orcheo_storage.vault import CredentialVault

from orcheo_storage_contract_tests.chat_objects import chat_thread, file_attachment, user_message

SURFACES: dict[str, type] = {
    "workflows": WorkflowRepository,
    "triggers": TriggerStore,
    "listeners": ListenerStore,
    "remediations": RemediationStore,
    "history": HistoryStore,
    "service_tokens": ServiceTokenStore,
    "agentensor": AgentensorStore,
    "vault": CredentialVault,
    "chatkit": ChatStore,
}
"""Storage attribute -> the contract whose public async methods are called."""

SURFACE_TABLES: dict[str, tuple[str, ...]] = {
    "workflows": ("workflows", "workflow_versions", "workflow_runs", "listener_subscriptions"),
    "triggers": (
        "webhook_triggers", "cron_triggers", "cron_dispatch", "retry_policies", "retry_attempts",
    ),
    "listeners": (
        "listener_subscriptions", "listener_cursors", "listener_dedupe", "workflow_runs",
    ),
    "remediations": ("remediation_candidates",),
    "history": ("run_histories", "run_history_steps"),
    "service_tokens": ("service_tokens", "service_token_audit"),
    "agentensor": ("agentensor_checkpoints",),
    "vault": ("vault_templates", "vault_credentials", "vault_alerts"),
    "chatkit": ("chat_threads", "chat_items", "chat_attachments"),
}  # fmt: skip
"""The tables a surface's methods write (what a rejected call must leave unchanged)."""

GATED = {
    ("chatkit", "filter_threads"): Capability.JSON_CONTAINMENT,
    ("chatkit", "search_items"): Capability.FULL_TEXT_SEARCH,
}
UNKNOWN_ID = uuid.UUID("00000000-0000-4000-8000-00000000dead")
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any
    kind: str | None
    """What the boundary checks (``text``, ``int``, ``seconds``...), ``None`` when unchecked."""
    required: bool


@dataclass(frozen=True)
class Method:
    surface: str
    name: str
    params: tuple[Param, ...]

    @property
    def label(self) -> str:
        return f"{self.surface}.{self.name}"


def kind_of(annotation: Any) -> str | None:
    """The hostile-value family of a parameter (mirrors what the boundary checks)."""
    if check_for(annotation) is None:
        return None
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is not None and len(args) == 1 and get_origin(args[0]) is None:
        annotation = args[0]
    names = {str: "text", int: "int", float: "seconds", bool: "bool", uuid.UUID: "uuid"}
    if annotation in names:
        return names[annotation]
    if annotation is datetime:
        return "datetime"
    if annotation is WorkflowChanges:
        return "changes"
    if isinstance(annotation, type) and issubclass(annotation, StorageModel):
        return f"model:{annotation.__name__}"
    text = repr(annotation)
    if "JSON" in text:
        return "json"
    if "list[str]" in text:
        return "text_list"
    if "list[" in text:
        return "model_list"
    return "enum"


def methods(surface: str) -> list[Method]:
    """Every public async method of a surface, with its parameters."""
    found = []
    for name, function in inspect.getmembers(SURFACES[surface], inspect.iscoroutinefunction):
        if name.startswith("_"):
            continue
        hints = resolved_hints(function)
        params = tuple(
            Param(
                p.name,
                hints.get(p.name, Any),
                kind_of(hints.get(p.name, Any)),
                p.default is inspect.Parameter.empty,
            )
            for p in inspect.signature(function).parameters.values()
            if p.name != "self" and p.kind is not p.VAR_KEYWORD
        )
        found.append(Method(surface, name, params))
    return found


# --- hostile values, by kind -----------------------------------------------------------------

_FAR = timezone(timedelta(hours=-5))
HOSTILE: dict[str, list[Any]] = {
    "text": ["nul\x00", "\x00", "lone \ud800", "\udfff", 42],
    "int": [2**63, -(2**63) - 1, 2**70, float("nan"), 1.5, True, "3"],
    "seconds": [float("inf"), float("-inf"), float("nan"), 1e308, -1e308, 1e12, True, "5"],
    "bool": ["yes", 2, None],
    "uuid": ["not-a-uuid", 12345, "\x00", "\ud800"],
    "datetime": ["2030-01-01", datetime(9999, 12, 31, 23, 0, tzinfo=_FAR), 0],
    "enum": ["bogus", "", "RUNNING\x00", 7],
    "text_list": [["nul\x00"], ["ok", "\ud800"], "not-a-list", [1]],
    "json": [
        {"k": float("nan")},
        {"k": Decimal("NaN")},
        {"k": b"bytes"},
        {1: "int key"},
        {"\x00": 1},
        {"k": "\ud800"},
        {"k": float("inf")},
    ],
    "changes": [
        WorkflowChanges(draft_access="bogus"),
        WorkflowChanges(name="nul\x00"),
        WorkflowChanges(tags=["\ud800"]),
        WorkflowChanges(is_archived="yes"),  # type: ignore[arg-type]
        "not changes",
    ],
    "model:ServiceToken": [
        ServiceToken.model_construct(identifier="nul\x00", secret_hash="a" * 64, issued_at=T0),
        ServiceToken.model_construct(
            identifier="tok-x", secret_hash="a" * 64, issued_at=T0, use_count=2**63
        ),
        ServiceToken.model_construct(identifier="tok-y", secret_hash="zz", issued_at=T0),
        {"identifier": "dict"},
    ],
    "model:TokenAuditEvent": [
        TokenAuditEvent.model_construct(token_id="\ud800", action="x", timestamp=T0),
        TokenAuditEvent.model_construct(
            token_id="t", action="x", timestamp=T0, details={"n": float("nan")}
        ),
    ],
    "model:ChatContext": [ChatContext.model_construct(workflow_id="nul\x00", metadata={})],
    "model_list": [
        [
            ListenerSubscriptionSpec.model_construct(
                node_name="\x00", platform="p", bot_identity_key="b"
            )
        ],
        "not-a-list",
    ],
}


def hostile_values(param: Param) -> list[Any]:
    """The hostile values of a parameter's kind (empty for unchecked parameters)."""
    return list(HOSTILE.get(param.kind or "", []))


# --- the seeded namespace and benign values ----------------------------------------------------


@dataclass
class Seed:
    """One of everything, created through the public API; benign arguments refer to it."""

    ids: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.ids[name]


async def seed(storage: Storage, surface: str) -> Seed:
    """Create the entities ``surface``'s methods refer to (ids differ per backend; roles do not)."""
    ids: dict[str, Any] = {}
    if surface in ("workflows", "triggers", "listeners", "remediations"):
        wf = await storage.workflows.create_workflow(name="Seed", actor="seed", handle="seed")
        version = await storage.workflows.create_version(wf.id, graph={"n": 1}, created_by="s")
        run = await storage.workflows.create_run(
            wf.id, workflow_version_id=version.id, triggered_by="seed"
        )
        ids.update(workflow_id=wf.id, version_id=version.id, run_id=run.id)
    if surface == "triggers":
        await storage.triggers.set_webhook_config(ids["workflow_id"], {"shared_secret": "s"})
        await storage.triggers.set_cron_config(ids["workflow_id"], {"expression": "* * * * *"})
    if surface == "listeners":
        spec = ListenerSubscriptionSpec(node_name="n", platform="p", bot_identity_key="b")
        (sub,) = await storage.listeners.sync_subscriptions(
            ids["workflow_id"], ids["version_id"], [spec]
        )
        ids["subscription_id"] = sub.id
    if surface == "remediations":
        candidate = await storage.remediations.create_candidate(
            workflow_id=ids["workflow_id"], workflow_version_id=ids["version_id"],
            run_id=ids["run_id"], fingerprint="fp", version_checksum="c",
        )  # fmt: skip
        ids["candidate_id"] = candidate.id
    if surface == "history":
        await storage.history.start_run(execution_id="exec-seed", workflow_id="wf-seed")
        await storage.history.append_step("exec-seed", {"s": 1})
    if surface == "service_tokens":
        token = ServiceToken(identifier="tok-seed", secret_hash=hash_secret("seed"), issued_at=T0)
        await storage.service_tokens.create(token)
    if surface == "agentensor":
        checkpoint = await storage.agentensor.record_checkpoint(
            workflow_id="wf-seed", metrics={"a": 1}
        )
        ids["checkpoint_id"] = checkpoint.id
    if surface == "vault":
        template = await storage.vault.create_template(name="T", provider="p", actor="seed")
        credential = await storage.vault.create_credential(
            name="C", provider="p", secret="s", actor="seed", template_id=template.id
        )
        alert = await storage.vault.record_alert(kind="k", message="m", credential_id=credential.id)
        ids.update(template_id=template.id, credential_id=credential.id, alert_id=alert.id)
    if surface == "chatkit":
        await storage.chatkit.save_thread(chat_thread("thread-seed"), ChatContext())
        item = user_message("item-seed", "thread-seed", "hello seed")
        await storage.chatkit.add_thread_item("thread-seed", item, ChatContext())
    return Seed(ids)


_SEEDED_UUIDS = {
    "workflow_id": "workflow_id",
    "version_id": "version_id",
    "workflow_version_id": "version_id",
    "run_id": "run_id",
    "subscription_id": "subscription_id",
    "candidate_id": "candidate_id",
    "checkpoint_id": "checkpoint_id",
    "credential_id": "credential_id",
    "template_id": "template_id",
    "alert_id": "alert_id",
}
_SEEDED_TEXT = {
    "execution_id": "exec-seed",
    "workflow_id": "wf-seed",
    "identifier": "tok-seed",
    "token_id": "tok-seed",
    "secret_hash": hash_secret("seed"),
    "thread_id": "thread-seed",
    "item_id": "item-seed",
    "attachment_id": "att-none",
    "order": "asc",
    "ref": "seed",
}
_BY_KIND: dict[str, Callable[[], Any]] = {
    "text": lambda: "benign",
    "int": lambda: 1,
    "seconds": lambda: 60,
    "bool": lambda: False,
    "datetime": lambda: T0,
    "text_list": lambda: ["benign"],
    "json": lambda: {"a": 1},
    "changes": lambda: WorkflowChanges(description="benign"),
}
_SPECIAL: dict[str, Callable[[Seed], Any]] = {
    "workflows.diff_versions.base": lambda s: 1,
    "workflows.diff_versions.target": lambda s: 1,
    "workflows.get_version_by_number.number": lambda s: 1,
    "workflows.transition_run.target": lambda s: "running",
    "remediations.transition_candidate.target": lambda s: "claimed",
    "listeners.update_subscription_status.status": lambda s: "paused",
    "vault.mark_health.status": lambda s: "healthy",
    "history.list_steps.after_index": lambda s: -1,
    "triggers.advance_cron_dispatch.expected": lambda s: None,
    "service_tokens.create.token": lambda s: ServiceToken(
        identifier="tok-new", secret_hash=hash_secret("new"), issued_at=T0
    ),
    "service_tokens.update.token": lambda s: ServiceToken(
        identifier="tok-seed", secret_hash=hash_secret("seed"), issued_at=T0
    ),
    "service_tokens.record_audit_event.event": lambda s: TokenAuditEvent(
        token_id="tok-seed", action="probe", timestamp=T0
    ),
    "listeners.sync_subscriptions.specs": lambda s: [],
    "triggers.set_webhook_config.config": lambda s: {"allowed_methods": ["GET"]},
    "triggers.set_cron_config.config": lambda s: {"expression": "0 * * * *"},
    "triggers.set_retry_policy.policy": lambda s: {"max_attempts": 2},
    "workflows.create_version.graph": lambda s: {"n": 2},
    "listeners.save_cursor.fields": lambda s: {"c": 1},
    "chatkit.save_thread.thread": lambda s: chat_thread("thread-new"),
    "chatkit.add_thread_item.item": lambda s: user_message("item-new", "thread-seed", "hi"),
    "chatkit.save_item.item": lambda s: user_message("item-seed", "thread-seed", "edited"),
    "chatkit.save_attachment.attachment": lambda s: file_attachment(
        "att-new", thread_id="thread-seed"
    ),
    "history.append_step.payload": lambda s: {"p": 1},
    "vault.rotate_secret.new_secret": lambda s: "rotated",
}


def values_for(method: Method, seeded: Seed) -> dict[str, Any]:
    """Benign values of every parameter that needs one (optional ones left at default)."""
    values: dict[str, Any] = {}
    for param in method.params:
        value = benign(method, param, seeded)
        if value is not None or param.required:
            values[param.name] = value
    return values


def benign(method: Method, param: Param, seeded: Seed, *, unknown: bool = False) -> Any:
    """A valid value for ``param``: the seeded entity it names (or an unknown one)."""
    special = _SPECIAL.get(f"{method.label}.{param.name}")
    if special is not None:
        return special(seeded)
    if param.kind == "uuid" and param.name in _SEEDED_UUIDS:
        seeded_id = seeded.ids.get(_SEEDED_UUIDS[param.name], UNKNOWN_ID)
        return UNKNOWN_ID if unknown else seeded_id
    if param.kind == "uuid":
        return UNKNOWN_ID
    if param.kind == "text" and param.name in _SEEDED_TEXT:
        return "unknown-key" if unknown else _SEEDED_TEXT[param.name]
    if param.kind == "enum":
        return _first_member(param.annotation)
    if param.kind == "model:ChatContext" or (
        param.name == "context" and method.surface == "chatkit"
    ):
        return ChatContext()
    factory = _BY_KIND.get(param.kind or "")
    return None if factory is None else factory()


def _first_member(annotation: Any) -> Any:
    for arg in [annotation, *get_args(annotation)]:
        if isinstance(arg, type) and hasattr(arg, "__members__"):
            return next(iter(arg.__members__.values())).value
    return None


def arguments(method: Method, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments as the method's signature takes them."""
    signature = inspect.signature(getattr(SURFACES[method.surface], method.name))
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.name == "self" or parameter.name not in values:
            continue
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = values[parameter.name]
        else:
            args.append(values[parameter.name])
    return args, kwargs


async def call(storage: Storage, method: Method, values: dict[str, Any]) -> Any:
    args, kwargs = arguments(method, values)
    return await getattr(getattr(storage, method.surface), method.name)(*args, **kwargs)


# --- what is stored ---------------------------------------------------------------------------------


async def snapshot(storage: Storage, names: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Every row of the logical tables ``names`` (default: all), as canonical JSON, per table."""
    await storage.service_tokens.flush_usage()
    wanted = names or tuple(t.name for t in LOGICAL_TABLES)
    tables: dict[str, list[str]] = {}
    sessions = {id(s): s for s in storage.sessions().values()}
    for session in sessions.values():
        bulk = session.bulk()
        for name in wanted:
            rows = tables.setdefault(name, [])
            async for batch in bulk.export_rows(name):
                rows.extend(dumps(row) for row in batch)
    return {name: sorted(rows) for name, rows in tables.items()}
