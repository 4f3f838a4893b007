"""Trusted construction (the backends' read path) gives what validation gives."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from orcheo_storage.clock import utcnow
from orcheo_storage.models.triggers import CronConfig, RateLimit, WebhookConfig
from orcheo_storage.models.workflows import Workflow
from orcheo_storage.rules import workflows as workflow_rules
from orcheo_storage.trusted import construct
from pydantic import SecretStr


def test_json_form_is_restored_to_the_models_types() -> None:
    config = WebhookConfig(
        shared_secret=SecretStr("s3cret"),
        hmac_secret=SecretStr("h"),
        required_headers={"x": "y"},
        rate_limit=RateLimit(limit=5),
    )
    as_json = json.loads(
        json.dumps(config.model_dump(mode="json") | {"shared_secret": "s3cret", "hmac_secret": "h"})
    )
    rebuilt = construct(WebhookConfig, as_json)
    assert rebuilt == config
    assert isinstance(rebuilt.shared_secret, SecretStr)
    assert rebuilt.shared_secret.get_secret_value() == "s3cret"
    assert isinstance(rebuilt.rate_limit, RateLimit)
    assert "s3cret" not in repr(rebuilt)

    cron = CronConfig(expression="* * * * *", start_at=datetime(2026, 1, 2, tzinfo=UTC))
    rebuilt_cron = construct(CronConfig, json.loads(cron.model_dump_json()))
    assert rebuilt_cron == cron
    assert rebuilt_cron.start_at == datetime(2026, 1, 2, tzinfo=UTC)


def test_a_workflow_read_back_equals_the_validated_one() -> None:
    now = utcnow()
    workflow = workflow_rules.new_workflow(name="W", actor="a", now=now, handle="w-1", tags=["x"])
    workflow = workflow_rules.publish(workflow, actor="a", require_login=True, now=now)
    data = json.loads(workflow.model_dump_json())
    trusted = construct(Workflow, data)
    assert trusted == Workflow.model_validate(data) == workflow
    assert isinstance(trusted.id, uuid.UUID)
    assert trusted.model_dump() == workflow.model_dump()


def test_complete_and_partial_rows_give_what_validation_gives() -> None:
    workflow = workflow_rules.new_workflow(name="W", actor="a", now=utcnow(), tags=["x"])
    data = json.loads(workflow.model_dump_json())
    complete = construct(Workflow, data)
    validated = Workflow.model_validate(data)
    assert complete.model_fields_set == validated.model_fields_set == set(Workflow.model_fields)
    assert complete.__pydantic_extra__ is None
    assert complete.__pydantic_private__ is None
    assert complete.model_copy(update={"name": "V"}).name == "V"

    # An older row without the newer optional columns: the defaults fill them.
    older = {k: v for k, v in data.items() if k not in ("tags", "publication", "share_url")}
    partial = construct(Workflow, older)
    assert partial == Workflow.model_validate(older)
    assert partial.tags == []
    assert partial.model_fields_set == set(older)


def test_a_model_with_a_post_init_hook_still_gets_it() -> None:
    from typing import Any

    from orcheo_storage.trusted import assemble
    from pydantic import BaseModel, PrivateAttr

    class Hooked(BaseModel):
        x: int
        _seen: int = PrivateAttr(default=0)

        def model_post_init(self, context: Any, /) -> None:
            self._seen = self.x + 1

    built = assemble(Hooked, {"x": 1})
    assert built.x == 1
    assert built._seen == 2
