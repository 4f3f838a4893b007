"""SQL of the ChatKit store (threads, items, attachments)."""

from __future__ import annotations

THREAD_COLS = "id, title, created_at, status, allowed_image_domains, metadata, workflow_id"
THREAD = f"SELECT {THREAD_COLS} FROM chat_threads WHERE id = ?"
UPSERT_THREAD = """INSERT INTO chat_threads
(id, title, created_at, updated_at, status, allowed_image_domains, metadata, workflow_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at,
status = excluded.status, allowed_image_domains = excluded.allowed_image_domains,
metadata = excluded.metadata, workflow_id = excluded.workflow_id"""
# Bump updated_at; set the title from the first user message only while it is empty.
TOUCH = """UPDATE chat_threads SET updated_at = ?,
title = CASE WHEN title IS NULL OR title = '' THEN ? ELSE title END WHERE id = ?"""
DELETE_THREAD = "DELETE FROM chat_threads WHERE id = ?"
STALE_THREADS = "SELECT id FROM chat_threads WHERE updated_at < ? ORDER BY id"

ITEMS_ASC = "SELECT item FROM chat_items WHERE thread_id = ? ORDER BY ordinal, id"
ITEM = "SELECT item FROM chat_items WHERE thread_id = ? AND id = ?"
ITEM_EXISTS = "SELECT 1 FROM chat_items WHERE id = ?"
ITEM_THREAD = "SELECT thread_id FROM chat_items WHERE id = ?"
ITEM_ORDINAL = "SELECT ordinal FROM chat_items WHERE thread_id = ? AND id = ?"
NEXT_ORDINAL = "SELECT ifnull(max(ordinal), -1) + 1 FROM chat_items WHERE thread_id = ?"
INSERT_ITEM = """INSERT INTO chat_items (id, thread_id, ordinal, created_at, item, search_text)
VALUES (?, ?, ?, ?, ?, ?)"""
UPDATE_ITEM = "UPDATE chat_items SET created_at = ?, item = ?, search_text = ? WHERE id = ?"
DELETE_ITEM = "DELETE FROM chat_items WHERE thread_id = ? AND id = ?"
DELETE_ITEMS = "DELETE FROM chat_items WHERE thread_id = ?"
SEARCH = """SELECT item FROM chat_items WHERE thread_id = ? AND instr(search_text, ?) > 0
ORDER BY ordinal, id LIMIT ?"""

UPSERT_ATTACHMENT = """INSERT INTO chat_attachments (id, thread_id, storage_path, created_at, attachment)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET thread_id = excluded.thread_id,
storage_path = excluded.storage_path, attachment = excluded.attachment"""
ATTACHMENT = "SELECT thread_id, attachment FROM chat_attachments WHERE id = ?"
DELETE_ATTACHMENT = "DELETE FROM chat_attachments WHERE id = ?"
UNLINK_ATTACHMENTS = "UPDATE chat_attachments SET thread_id = NULL WHERE thread_id = ?"
ATTACHMENT_PATHS = "SELECT storage_path FROM chat_attachments WHERE thread_id = ?"
DELETE_ATTACHMENTS = "DELETE FROM chat_attachments WHERE thread_id = ?"


def threads_page(*, descending: bool, scoped: bool, anchored: bool, limited: bool = True) -> str:
    """A keyset page of threads on (created_at, id); every value is bound."""
    clauses = []
    if scoped:
        clauses.append("workflow_id = ?")
    if anchored:
        clauses.append(f"(created_at, id) {'<' if descending else '>'} (?, ?)")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    direction = "DESC" if descending else "ASC"
    limit = " LIMIT ?" if limited else ""
    return (
        f"SELECT {THREAD_COLS} FROM chat_threads{where} "
        f"ORDER BY created_at {direction}, id {direction}{limit}"
    )


def items_page(*, descending: bool, anchored: bool) -> str:
    """A keyset page of a thread's items on ordinal; every value is bound."""
    anchor = f" AND ordinal {'<' if descending else '>'} ?" if anchored else ""
    direction = "DESC" if descending else "ASC"
    return (
        f"SELECT ordinal, item FROM chat_items WHERE thread_id = ?{anchor} "
        f"ORDER BY ordinal {direction} LIMIT ?"
    )
