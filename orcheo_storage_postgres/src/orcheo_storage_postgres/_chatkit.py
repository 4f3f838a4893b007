"""The ``openai-chatkit`` names this backend uses, imported without its import-time noise.

``chatkit.widgets`` emits a ``DeprecationWarning`` for its own class definitions when
imported; that is the library talking to itself, not to us, so it is silenced here
(and only here) rather than globally.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Direct usage of named widget classes", category=DeprecationWarning
    )
    from chatkit.store import Store
    from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata, ThreadStatus

__all__ = ["Attachment", "Page", "Store", "ThreadItem", "ThreadMetadata", "ThreadStatus"]
