"""Working a record: comments with @mentions, tasks, notifications, and moving them with
their record."""
