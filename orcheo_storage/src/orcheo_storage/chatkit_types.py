"""The ``openai-chatkit`` names the ChatKit stores use, imported without its import-time noise.

``chatkit.widgets`` emits a ``DeprecationWarning`` for its own class definitions when first
imported; under ``-W error`` (our pytest setting) that would make every ChatKit store
unimportable, so exactly that warning is silenced here, once, for every backend. Import
this module only where ChatKit is needed: it costs the ``chatkit`` import.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Direct usage of named widget classes", category=DeprecationWarning
    )
    from chatkit.store import Store
    from chatkit.types import (
        ActiveStatus,
        Attachment,
        ClosedStatus,
        LockedStatus,
        Page,
        ThreadItem,
        ThreadMetadata,
        ThreadStatus,
    )

__all__ = [
    "ActiveStatus",
    "Attachment",
    "ClosedStatus",
    "LockedStatus",
    "Page",
    "Store",
    "ThreadItem",
    "ThreadMetadata",
    "ThreadStatus",
]
