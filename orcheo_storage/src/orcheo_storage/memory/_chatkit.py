"""The ``openai-chatkit`` names this backend uses, imported without its import-time noise.

``chatkit.widgets`` emits a ``DeprecationWarning`` for its own class definitions when
first imported; under ``-W error`` (our pytest setting) that would make the ChatKit store
unimportable, so exactly that warning is silenced here, once, at import.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Direct usage of named widget classes", category=DeprecationWarning
    )
    from chatkit.store import Store
    from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata

__all__ = ["Attachment", "Page", "Store", "ThreadItem", "ThreadMetadata"]
