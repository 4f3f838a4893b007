"""One store per subsystem, all sharing the session's :class:`~orcheo_storage_postgres._db.Db`."""
