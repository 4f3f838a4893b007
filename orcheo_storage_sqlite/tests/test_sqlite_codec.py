"""Row codec: exact timestamps, exact JSON numbers, and trusted reads equal validated ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from orcheo_storage.clock import utcnow
from orcheo_storage.jsoncodec import dumps
from orcheo_storage.models.listeners import ListenerSubscriptionSpec
from orcheo_storage.models.workflows import Workflow
from orcheo_storage.rules import listeners as listener_rules
from orcheo_storage.rules import versions as version_rules
from orcheo_storage.rules import workflows as workflow_rules
from orcheo_storage_sqlite.codec import fast_dumps, from_ts, ts
from orcheo_storage_sqlite.tables import SUBSCRIPTIONS, VERSIONS, WORKFLOWS


def test_timestamps_round_trip_to_the_microsecond_and_sort() -> None:
    stamps = [
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 26, 12, 0, 0, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    assert [from_ts(ts(s)) for s in stamps] == stamps
    assert sorted(ts(s) for s in stamps) == [ts(s) for s in stamps]
    naive = datetime(2026, 1, 1, 0, 0, 0, 5)
    assert from_ts(ts(naive)) == naive.replace(tzinfo=UTC)
    other_zone = datetime(2026, 1, 1, 1, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))
    assert from_ts(ts(other_zone)) == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)


def test_fast_encoder_matches_the_project_codec() -> None:
    values = [
        {"a": 'ü\n"x"', "b": [1, 2**80, None, True, False], "c": {}},
        {"f": 1.5, "g": 1e30, "d": Decimal("0.1000000000000000000001")},
        ["\u2028", "emoji \U0001f600", -0],
    ]
    for value in values:
        assert fast_dumps(value) == dumps(value)


def _trusted_equals_validated(tmap, obj) -> None:
    row = tmap.params(obj)
    trusted = tmap.load(row)
    validated = tmap.model.model_validate(tmap.data(row))
    assert trusted == validated == obj
    assert trusted.model_dump() == obj.model_dump()


def test_trusted_reads_equal_validated_reads() -> None:
    now = utcnow()
    workflow = workflow_rules.new_workflow(
        name="W",
        actor="a",
        now=now,
        handle="w-1",
        tags=["x"],
        chat={"start_screen_prompts": [{"label": "hi", "n": Decimal("1.25")}]},
    )
    workflow = workflow_rules.publish(workflow, actor="a", require_login=True, now=now)
    workflow = workflow_rules.apply_changes(
        workflow, workflow_rules.WorkflowChanges(name="W2"), actor="b", now=now
    )
    _trusted_equals_validated(WORKFLOWS, workflow)
    assert isinstance(WORKFLOWS.load(WORKFLOWS.params(workflow)), Workflow)
    version = version_rules.new_version(
        workflow_id=workflow.id,
        number=3,
        graph={"big": 10**40, "x": Decimal("0.3333333333333333333333")},
        created_by="a",
        now=now,
        runnable_config={"configurable": {"k": 1.5}},
    )
    _trusted_equals_validated(VERSIONS, version)
    sub = listener_rules.new_subscription(
        ListenerSubscriptionSpec(node_name="n", platform="p", bot_identity_key="b"),
        workflow_id=workflow.id,
        version_id=uuid.uuid4(),
        now=now,
    )
    sub = listener_rules.claim(sub, "rt", timedelta(seconds=5), now)
    _trusted_equals_validated(SUBSCRIPTIONS, sub)
