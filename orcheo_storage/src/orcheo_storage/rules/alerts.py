"""Governance alerts: what recording an alert that is already open changes."""

from __future__ import annotations

from orcheo_storage.models.vault import GovernanceAlert


def merge_open_alert(existing: GovernanceAlert, incoming: GovernanceAlert) -> GovernanceAlert:
    """The open alert after the same alert (kind, credential, template) is recorded again.

    Severity, message and ``updated_at`` come from the new recording; identity, creation
    time, access scope and audit log stay those of the open alert.
    """
    return existing.model_copy(
        update={
            "severity": incoming.severity,
            "message": incoming.message,
            "updated_at": incoming.updated_at,
        }
    )
