"""The model: mailboxes, folders, items and attachments kept in SQLite."""
