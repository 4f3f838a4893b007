"""Trigger configuration (webhook, cron, retry) and the coordination state around it."""

from __future__ import annotations

from pydantic import Field

from orcheo_storage.models.common import INT64_MAX, SecretText, StorageModel, Text, UtcDatetime


class RateLimit(StorageModel):
    """At most ``limit`` requests per ``interval_seconds`` (Orcheo's ``RateLimitConfig``)."""

    limit: int = Field(default=60, ge=1)
    interval_seconds: int = Field(default=60, ge=1)


class WebhookConfig(StorageModel):
    """How a workflow's webhook accepts requests. Secrets are stored encrypted."""

    allowed_methods: list[Text] = Field(default_factory=lambda: ["POST"])
    required_headers: dict[Text, Text] = Field(default_factory=dict)
    required_query_params: dict[Text, Text] = Field(default_factory=dict)
    shared_secret_header: Text | None = None
    shared_secret: SecretText | None = None
    hmac_header: Text | None = None
    hmac_secret: SecretText | None = None
    hmac_algorithm: Text = "sha256"
    hmac_timestamp_header: Text | None = None
    hmac_tolerance_seconds: int = Field(default=300, ge=0)
    rate_limit: RateLimit | None = None


class CronConfig(StorageModel):
    expression: Text
    timezone: Text = "UTC"
    allow_overlapping: bool = False
    start_at: UtcDatetime | None = None
    end_at: UtcDatetime | None = None


class RetryPolicy(StorageModel):
    max_attempts: int = Field(default=3, ge=1, le=INT64_MAX)
    initial_delay_seconds: float = Field(default=1.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_delay_seconds: float | None = Field(default=300.0, ge=0)
    """``None``: no ceiling on the computed delay."""
    jitter_factor: float = Field(default=0.1, ge=0, le=1)
