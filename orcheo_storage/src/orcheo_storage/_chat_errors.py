"""The ChatKit store's not-found errors, which are also ``chatkit.store.NotFoundError``.

The real ``chatkit.server.ChatKitServer`` (and the HTTP layers built on it) answer a
store's ``chatkit.store.NotFoundError`` with their not-found handling; anything else
becomes an internal error. So these three errors subclass ChatKit's as well as
:class:`orcheo_storage.errors.NotFoundError`: ``except ThreadNotFoundError`` and
``except chatkit.store.NotFoundError`` both catch them.

Importing ChatKit costs a few hundred milliseconds, so this module is imported only
when one of these names is first looked up on :mod:`orcheo_storage.errors` (which
every ChatKit store does, and nothing else). Without ``openai-chatkit`` installed
(it is the core's optional ``chatkit`` extra) they are plain storage errors.
"""

from __future__ import annotations

import warnings

from orcheo_storage.errors import NotFoundError

try:
    with warnings.catch_warnings():
        # chatkit.widgets warns about its own classes when first imported (see chatkit_types)
        warnings.filterwarnings(
            "ignore", message="Direct usage of named widget classes", category=DeprecationWarning
        )
        from chatkit.store import NotFoundError as ChatKitNotFoundError
except ImportError:  # pragma: no cover - the workspace always installs openai-chatkit

    class ChatKitNotFoundError(Exception):  # type: ignore[no-redef]
        """Stands in for ``chatkit.store.NotFoundError`` when ChatKit is not installed."""


class ThreadNotFoundError(NotFoundError, ChatKitNotFoundError):
    entity = "chat thread"


class ItemNotFoundError(NotFoundError, ChatKitNotFoundError):
    entity = "chat item"


class AttachmentNotFoundError(NotFoundError, ChatKitNotFoundError):
    entity = "chat attachment"


# Their public home is orcheo_storage.errors (where pickle and tracebacks find them).
for _error in (ThreadNotFoundError, ItemNotFoundError, AttachmentNotFoundError):
    _error.__module__ = "orcheo_storage.errors"
del _error

__all__ = ["AttachmentNotFoundError", "ItemNotFoundError", "ThreadNotFoundError"]
