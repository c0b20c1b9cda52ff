"""Tables of the control database: who, which workspaces, and the definitions of record types.

Record data itself lives in per-record-type tables built by :mod:`workspace.schema`; those are
not part of this metadata, so Alembic never sees them (see ``migrations/env.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.mysql import LONGBLOB

from workspace.schema.coltypes import UtcDateTime, exact_string

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")
# sqlite_autoincrement on every table below: SQLite otherwise hands the id of the newest
# deleted row to the next insert, and a new record type would inherit a deleted one's id,
# schema version (so its cached definition) and history.

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # The account form of the address (workspace.identity), compared byte for byte.
    Column("email", exact_string(254), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("password_hash", String(255), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", exact_string(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("phone_region", String(2), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    # Set when deletion starts; the workspace is invisible from then on and its tables are
    # dropped (again, after a crash) before the row goes.
    Column("deleted_at", UtcDateTime, nullable=True),
    # Set while a move of the workspace's record data makes the copy equal and switches
    #: record writes answer 503 meanwhile. See services.data_gate.
    Column("data_frozen", Boolean, nullable=False, default=False, server_default=text("0")),
    # When the mover expects the freeze to end: the 503s' Retry-After counts down to it.
    Column("data_frozen_until", UtcDateTime, nullable=True),
    # Bumped at every switch of data database, so every process notices its cached route
    # is stale before it writes.
    Column("data_epoch", Integer, nullable=False, default=0, server_default=text("0")),
    # IANA name ("Europe/Berlin") for dates and times of day (automations); NULL is UTC.
    Column("time_zone", String(64), nullable=True),
    sqlite_autoincrement=True,
)

memberships = Table(
    "memberships",
    metadata,
    Column(
        "workspace_id",
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

record_types = Table(
    "record_types",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "workspace_id",
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(200), nullable=False),
    Column("position", Integer, nullable=False, default=0),
    # Bumped on every definition change; table objects are cached per (id, schema_version).
    Column("schema_version", Integer, nullable=False, default=1),
    # ready | pending (being created) | changing (writes paused for a data conversion)
    Column("state", String(16), nullable=False, default="ready"),
    # The unfinished schema change, so a crashed change can be rolled back by anyone.
    Column("pending_change", JSON, nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("unique_together", JSON, nullable=False, default=list),
    Column("created_at", UtcDateTime, nullable=False),
    # An adopted table: {"table", "key", "no_create"}; NULL for our own rt_<id>.
    Column("source", JSON, nullable=True),
    # Retired (read-only on every path, still readable): {"at", "by", "note", "successor"}.
    Column("retired", JSON, nullable=True),
    sqlite_autoincrement=True,
)

fields = Table(
    "fields",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "record_type_id",
        ForeignKey("record_types.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("type", String(32), nullable=False),
    Column("config", JSON, nullable=False, default=dict),
    Column("position", Integer, nullable=False, default=0),
    # Physical column (or link table) name; changes only when a type change rebuilds it.
    Column("column_name", String(64), nullable=False, default=""),
    # ready | pending (DDL not finished; invisible to readers and writers)
    Column("state", String(16), nullable=False, default="ready"),
    Column("created_at", UtcDateTime, nullable=False),
    # The adopted table's column this field reads and writes; NULL otherwise.
    Column("source_column", String(64), nullable=True),
    sqlite_autoincrement=True,
)

activity = Table(
    "activity",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("record_type_id", BigInteger, nullable=True),
    Column("record_id", BigInteger, nullable=True),
    # create | update | delete | restore | convert | schema
    Column("action", String(16), nullable=False),
    Column("actor_user_id", BigInteger, nullable=True),
    # api | ui | form | import | connector | automation | system | cli
    Column("source", String(16), nullable=False),
    Column("source_ref", String(200), nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Column("changes", JSON, nullable=False, default=list),
    Index("ix_activity_record", "record_type_id", "record_id", "id"),
    Index("ix_activity_workspace", "workspace_id", "id"),
    sqlite_autoincrement=True,
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # The client's key as sent: "abc" and "ABC" are two keys.
    Column("scope", exact_string(64), primary_key=True),
    Column("key", exact_string(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    # in_flight | done
    Column("state", String(16), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_headers", JSON, nullable=True),
    # LONGBLOB on MySQL, which is what LargeBinary(length=2**24) has always created there.
    Column("response_body", LargeBinary().with_variant(LONGBLOB(), "mysql"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
)

sessions = Table(
    "sessions",
    metadata,
    # SHA-256 of the cookie value: a leaked database row cannot be replayed as a cookie.
    Column("id", exact_string(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)

views = Table(
    "views",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "record_type_id",
        ForeignKey("record_types.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # Exact, like every name that picks one thing: "Open" and "open" are two views.
    Column("name", exact_string(200), nullable=False),
    # {"columns": [keys], "sort": "name,-amount", "filter": [...], "search": "..."}
    Column("config", JSON, nullable=False, default=dict),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # A name picks one view of a record type (links, the view menu): two saves racing
    # past the service's check must not both win.
    UniqueConstraint("record_type_id", "name"),
    sqlite_autoincrement=True,
)

dedupe_rules = Table(
    "dedupe_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "record_type_id",
        ForeignKey("record_types.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # A registered DedupeRule name ("email", "phone", "contact"...).
    Column("rule", String(64), nullable=False),
    # The field ids the rule reads, in the rule's order.
    Column("field_ids", JSON, nullable=False),
    # off | block | update | warn (update only on create; fuzzy rules only warn)
    Column("on_create", String(16), nullable=False),
    Column("on_update", String(16), nullable=False),
    # {field id: overwrite | fill_empty | ignore}: how "update" merges incoming values.
    Column("merge_policy", JSON, nullable=False, default=dict),
    Column("threshold", Float, nullable=True),
    # Copy a tightened restrictive value to every record sharing this rule's key.
    Column(
        "propagate_restrictive", Boolean, nullable=False, default=False, server_default=text("0")
    ),
    Column("created_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

duplicate_pairs = Table(
    "duplicate_pairs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("record_type_id", BigInteger, nullable=False),
    # The pair is stored with record_a < record_b so it exists once.
    Column("record_a", BigInteger, nullable=False),
    Column("record_b", BigInteger, nullable=False),
    # The record type of record_b when it differs (a pair found by a rule across types);
    # 0 when both records are of record_type_id. A cross-type pair is stored once, ordered
    # by (type, record).
    Column("type_b", BigInteger, nullable=False, server_default="0"),
    Column("score", Float, nullable=False),
    Column("reasons", JSON, nullable=False, default=list),
    # open | merged | not_duplicate | skipped
    Column("status", String(16), nullable=False, default="open"),
    Column("found_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decided_by", BigInteger, nullable=True),
    UniqueConstraint(
        "record_type_id", "record_a", "type_b", "record_b", name="uq_duplicate_pairs_pair"
    ),
    Index("ix_duplicate_pairs_queue", "record_type_id", "status", "score"),
    sqlite_autoincrement=True,
)

dedupe_spans = Table(
    "dedupe_spans",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # A registered exact DedupeRule name: every spanned type's keys live in one key space,
    # the data database's ``dks_<id>`` table.
    Column("rule", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

dedupe_span_types = Table(
    "dedupe_span_types",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("span_id", ForeignKey("dedupe_spans.id", ondelete="CASCADE"), nullable=False),
    Column(
        "record_type_id",
        ForeignKey("record_types.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # The field ids the rule reads on this type, in the rule's order (the field mapping).
    Column("field_ids", JSON, nullable=False),
    # off | block | update | warn on create; off | block | warn on update.
    Column("on_create", String(16), nullable=False),
    Column("on_update", String(16), nullable=False),
    UniqueConstraint("span_id", "record_type_id", name="uq_dedupe_span_types_type"),
    sqlite_autoincrement=True,
)

merges = Table(
    "merges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("record_type_id", BigInteger, nullable=False),
    Column("survivor_id", BigInteger, nullable=False),
    # The loser stays as a soft-deleted tombstone that points here (API and UI redirect).
    Column("loser_id", BigInteger, nullable=False),
    # What undo needs: the survivor's values before, its version after, the links moved.
    Column("survivor_before", JSON, nullable=False),
    Column("survivor_version", Integer, nullable=False),
    Column("moved_links", JSON, nullable=False, default=list),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    Column("undone_at", UtcDateTime, nullable=True),
    Index("ix_merges_loser", "record_type_id", "loser_id"),
    Index("ix_merges_survivor", "record_type_id", "survivor_id"),
    sqlite_autoincrement=True,
)

forms = Table(
    "forms",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "workspace_id",
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # No foreign key: a deleted record type leaves its forms (and their submissions) on
    # file, answering "not available" to the public.
    Column("record_type_id", BigInteger, nullable=False),
    # The public address /f/<slug>: random, so forms cannot be found by counting.
    Column("slug", exact_string(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("is_open", Boolean, nullable=False, default=True),
    # Fields shown (label, help, required, order, hidden, prefill, fixed value, never
    # overwritten), duplicate policy, success message or redirect: services/form_config.py.
    Column("config", JSON, nullable=False, default=dict),
    # Submissions write records as this member (activity: source "form", ref "form:<id>").
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Deleting a form hides it; its submissions stay (nothing submitted is ever lost).
    Column("deleted_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

form_submissions = Table(
    "form_submissions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("form_id", ForeignKey("forms.id", ondelete="CASCADE"), nullable=False),
    # submit (the public form) | edit (a self-service edit link)
    Column("kind", String(16), nullable=False, default="submit"),
    # Random public reference: what a self-service edit link names (never an id).
    Column("ref", exact_string(32), nullable=False, unique=True),
    Column("received_at", UtcDateTime, nullable=False),
    # HMAC of the client address with the server key: rate limits without keeping IPs.
    Column("ip_hash", String(64), nullable=False),
    # What was posted (size-capped), as received.
    Column("payload", JSON, nullable=False),
    # received (stored, not yet decided) | created | updated | refused | rejected | spam |
    # replay | failed (not taken: the sender got 503 or no answer and may send it again)
    Column("outcome", String(16), nullable=False),
    Column("record_id", BigInteger, nullable=True),
    Column("reason", String(1000), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Index("ix_form_submissions_form", "form_id", "id"),
    Index("ix_form_submissions_ip", "ip_hash", "received_at"),
    # The recovery pass finds what is still "received" without reading every submission.
    Index("ix_form_submissions_outcome", "outcome", "received_at"),
    sqlite_autoincrement=True,
)

form_tokens = Table(
    "form_tokens",
    metadata,
    # SHA-256 of a one-time token a rendered form carried: claimed by the first post only.
    Column("token_hash", exact_string(64), primary_key=True),
    Column("form_id", ForeignKey("forms.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("submission_id", BigInteger, nullable=False),
    Column("used_at", UtcDateTime, nullable=False, index=True),
)

# --- comments, tasks, notifications ---

comments = Table(
    "comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # No foreign key to the record: records live in per-type tables (perhaps another
    # database); a merge moves a loser's comments to the survivor and undo moves them back.
    Column("record_type_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("author_id", BigInteger, nullable=False),
    # The text as typed; formatting is applied when shown, escaped first.
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("edited_at", UtcDateTime, nullable=True),
    Index("ix_comments_record", "record_type_id", "record_id", "id"),
    sqlite_autoincrement=True,
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("record_type_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("title", String(200), nullable=False),
    Column("assignee_id", BigInteger, nullable=True),
    Column("due_date", Date, nullable=True),
    # open | done
    Column("status", String(16), nullable=False, default="open"),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime, nullable=True),
    # "My tasks": a member's open tasks by due date.
    Index("ix_tasks_assignee", "workspace_id", "assignee_id", "status", "due_date"),
    Index("ix_tasks_record", "record_type_id", "record_id"),
    sqlite_autoincrement=True,
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # Who is told; a member who leaves keeps nothing (rows of removed members are ignored).
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # mention | assigned
    Column("kind", String(16), nullable=False),
    Column("actor_user_id", BigInteger, nullable=True),
    Column("record_type_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("comment_id", BigInteger, nullable=True),
    Column("task_id", BigInteger, nullable=True),
    # A short excerpt (comment text or task title) as it was when the notification was made.
    Column("excerpt", String(300), nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    # The bell: a member's unread notifications in a workspace, newest first.
    Index("ix_notifications_unread", "user_id", "workspace_id", "read_at", "id"),
    sqlite_autoincrement=True,
)

# --- storage settings ---

storage_configs = Table(
    "storage_configs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # A registered storage backend kind: local | s3 | ftp | a plugin's.
    Column("kind", String(32), nullable=False),
    # The settings without their secrets; {} for kind local is the workspace's own folder.
    Column("config", JSON, nullable=False, default=dict),
    # The secrets (S3 secret key, FTP password) sealed with workspace.crypto; never shown.
    Column("sealed", String(4000), nullable=True),
    # draft (saved, unused) | target (being migrated into: takes new files) | active |
    # readonly (replaced, still read from) | retired (no longer used; objects left alone)
    Column("role", String(16), nullable=False),
    # Bumped on every edit: built backends are cached per (id, version).
    Column("version", Integer, nullable=False, default=1),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_storage_configs_workspace", "workspace_id", "role"),
    sqlite_autoincrement=True,
)

storage_migrations = Table(
    "storage_migrations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("source_id", BigInteger, nullable=False),
    Column("target_id", BigInteger, nullable=False),
    # running | failed | done | abandoned (given up after failing; the old backend stayed)
    Column("state", String(16), nullable=False),
    Column("total_objects", Integer, nullable=False, default=0),
    Column("total_bytes", BigInteger, nullable=False, default=0),
    Column("done_objects", Integer, nullable=False, default=0),
    Column("done_bytes", BigInteger, nullable=False, default=0),
    Column("error", String(2000), nullable=True),
    # Whoever runs the copy holds a lease it renews; an expired lease means its process
    # died, and the next start (or `workspace storage migrate --resume`) takes over.
    Column("lease_token", exact_string(32), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("started_by", BigInteger, nullable=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_storage_migrations_workspace", "workspace_id", "state"),
    sqlite_autoincrement=True,
)

storage_migration_items = Table(
    "storage_migration_items",
    metadata,
    Column(
        "migration_id",
        ForeignKey("storage_migrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sha256", String(64), primary_key=True),
    # Size from the files rows, for the progress in bytes.
    Column("size", BigInteger, nullable=True),
    # Set once the copy on the target was read back and its sha256 matched.
    Column("done", Boolean, nullable=False, default=False),
    Index("ix_storage_migration_items_todo", "migration_id", "done", "sha256"),
)

# --- files ---

files = Table(
    "files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # No foreign key to the record (per-type tables, perhaps in another database). A merge
    # moves a loser's files to the survivor (``record_id``); ``origin_record_id`` is the
    # record they were uploaded to, which is how undoing the merge finds them again.
    Column("record_type_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("origin_record_id", BigInteger, nullable=False),
    # The file field it was attached through; NULL for a general attachment of the record.
    Column("field_id", BigInteger, nullable=True),
    # The name as uploaded (cleaned of path parts and control characters); shown, never
    # used to build a path: the bytes live under blob_name(sha256) in the storage backend.
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    # Sniffed from the bytes, never taken from the client.
    Column("content_type", String(100), nullable=False),
    # Lowercase hex SHA-256 of the content: the blob's address and its check on every read.
    Column("sha256", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    # Soft delete: restorable until ``workspace files purge`` removes it after 30 days.
    Column("deleted_at", UtcDateTime, nullable=True),
    Column("deleted_by", BigInteger, nullable=True),
    Index("ix_files_record", "record_type_id", "record_id", "id"),
    Index("ix_files_blob", "workspace_id", "sha256"),
    Index("ix_files_deleted", "deleted_at"),
    sqlite_autoincrement=True,
)

# --- imports (every entry path dedupes; nothing lost) ---

imports = Table(
    "imports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("record_type_id", BigInteger, nullable=False),
    # The uploaded file's name, for people; never used as a path.
    Column("name", String(255), nullable=False),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # uploaded (rows kept, not yet written) | running | done
    Column("status", String(16), nullable=False),
    Column("headers", JSON, nullable=False),
    # {column index (text): field key} and the duplicate policy of the last run.
    Column("mapping", JSON, nullable=False),
    Column("policy", String(16), nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_imports_type", "record_type_id", "id"),
    sqlite_autoincrement=True,
)

import_rows = Table(
    "import_rows",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("import_id", ForeignKey("imports.id", ondelete="CASCADE"), nullable=False),
    # 1 = the first row under the header, as a spreadsheet user counts them.
    Column("row_number", Integer, nullable=False),
    # The row's cells as read from the file, before anything was made of them.
    Column("cells", JSON, nullable=False),
    # pending | created | updated | unchanged | rejected
    Column("outcome", String(16), nullable=False),
    Column("record_id", BigInteger, nullable=True),
    # Why a row was rejected ({field: reason}) or what else happened (queued for review).
    Column("detail", JSON, nullable=True),
    UniqueConstraint("import_id", "row_number"),
    Index("ix_import_rows_outcome", "import_id", "outcome", "row_number"),
    sqlite_autoincrement=True,
)

# --- data databases ---

data_databases = Table(
    "data_databases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # A customer's MySQL the workspace's record tables live in (no row: the managed one).
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("database_name", String(64), nullable=False),
    Column("user_name", String(80), nullable=False),
    # {"password": ...} sealed with workspace.crypto; never shown again.
    Column("sealed", String(4000), nullable=False),
    Column("tls", Boolean, nullable=False, default=False),
    # PEM text of the CA that signed the server's certificate; NULL: the system's CAs.
    Column("ca_cert", Text, nullable=True),
    # What the connection test warned about (settings that can lose changes in a crash), as
    # a list of sentences; NULL for rows stored before it looked.
    Column("warnings", JSON, nullable=True),
    # active (record tables live there) | target (a move copies into it) | old (the copy a
    # move left behind, read-only) | retired (no longer used; its tables dropped or left)
    Column("role", String(16), nullable=False),
    # Bumped on every edit: engines are built and cached per (id, version).
    Column("version", Integer, nullable=False, default=1),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_data_databases_workspace", "workspace_id", "role"),
    sqlite_autoincrement=True,
)

data_views = Table(
    "data_views",
    metadata,
    # No foreign key to the record type: the row outlives a deleted type until its view
    # is dropped from the data database.
    Column("record_type_id", BigInteger, primary_key=True, autoincrement=False),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # The data_databases row the view was created in.
    Column("data_database_id", BigInteger, nullable=False),
    # The readable view's name there (v_<type name>).
    Column("view_name", String(64), nullable=False),
)

# --- data moves ---

data_moves = Table(
    "data_moves",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # data_databases rows the records are copied from and to; NULL is the managed database.
    Column("source_id", BigInteger, nullable=True),
    Column("target_id", BigInteger, nullable=True),
    # copying | switching (frozen) | done | failed | cancelled (see services.data_moves)
    Column("state", String(16), nullable=False),
    Column("error", String(2000), nullable=True),
    Column("started_by", BigInteger, nullable=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    # The process copying holds the lease and renews it per batch; an expired one is claimed.
    Column("lease_token", exact_string(32), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    # After the switch the source is the old copy: kept (read-only) | retired (dropped).
    Column("old_copy", String(16), nullable=True),
    # How the old copy is kept read-only: "triggers" (its database refuses changes), or why
    # its database would not take them (then only this server keeps from writing there).
    Column("old_copy_guard", String(300), nullable=True),
    Index("ix_data_moves_workspace", "workspace_id", "state"),
    sqlite_autoincrement=True,
)

data_move_tables = Table(
    "data_move_tables",
    metadata,
    Column("move_id", ForeignKey("data_moves.id", ondelete="CASCADE"), primary_key=True),
    # rt_<id>, lnk_<field id> or dk_<id>
    Column("table_name", String(64), primary_key=True),
    Column("record_type_id", BigInteger, nullable=False),
    # pending | copying | copied | verified | mismatch
    Column("state", String(16), nullable=False),
    # Primary key (JSON list) of the last row whose batch is committed on the target; a
    # resumed copy starts after it. NULL: nothing copied yet.
    Column("last_key", JSON, nullable=True),
    Column("copied_rows", BigInteger, nullable=False, default=0),
    Column("batches", Integer, nullable=False, default=0),
    # Filled by verification: row counts of both sides, the SHA-256 of the source's rows,
    # and where the first difference is.
    Column("source_rows", BigInteger, nullable=True),
    Column("target_rows", BigInteger, nullable=True),
    Column("checksum", String(64), nullable=True),
    Column("mismatch", String(1000), nullable=True),
)

# --- API rate limits ---

rate_counts = Table(
    "rate_counts",
    metadata,
    # When the window began, in seconds since the epoch (windows of WORKSPACE_API_RATE_WINDOW).
    Column("window_start", BigInteger, primary_key=True),
    # Whose requests: "token:<hash>" or "address:<HMAC of the address>" (never the address).
    Column("bucket", exact_string(48), primary_key=True),
    # Requests handed out to server processes in this window (workspace/rate_limits.py).
    Column("used", Integer, nullable=False),
)

# --- connectors: connections to SaaS tools, field ownership, external ids, syncs ---

connections = Table(
    "connections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # A registered connector kind: hubspot | mailchimp | stripe | a plugin's.
    Column("kind", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    # The vendor's API address by default; an admin may point it elsewhere (checked like
    # every host an admin names).
    Column("base_url", String(500), nullable=False),
    # Settings that are not secrets (a Mailchimp audience id); secrets are sealed below.
    Column("config", JSON, nullable=False, default=dict),
    Column("sealed", String(4000), nullable=True),
    # Random: the vendor's webhooks are sent to /hooks/<token> (Mailchimp signs nothing, so
    # the address is the secret).
    Column("webhook_token", exact_string(64), nullable=False, unique=True),
    # Minutes between scheduled pulls; NULL pulls only on demand and on webhooks.
    Column("pull_every", Integer, nullable=True),
    # What the tool charges per record and month (in the workspace's currency), entered by an
    # admin: the home page counts what the duplicates cost. NULL: not entered.
    Column("price_per_record", Float, nullable=True),
    Column("next_pull_at", UtcDateTime, nullable=True),
    # active | stopped (credentials rejected: nothing runs until they are saved again)
    Column("state", String(16), nullable=False, default="active"),
    # What stopped the last sync, for the connection page ("credentials rejected: ...").
    Column("problem", String(2000), nullable=True),
    # One sync per connection at a time, across processes: whoever runs it holds the lease.
    Column("lease_token", exact_string(32), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Deleting a connection hides it; its payloads and links stay on file.
    Column("deleted_at", UtcDateTime, nullable=True),
    Index("ix_connections_workspace", "workspace_id", "id"),
    sqlite_autoincrement=True,
)

field_owners = Table(
    "field_owners",
    metadata,
    # A field with no row here is owned by the workspace.
    Column(
        "field_id",
        ForeignKey("fields.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("record_type_id", BigInteger, nullable=False, index=True),
    # The connection that alone may write the field.
    Column("connection_id", BigInteger, nullable=False, index=True),
    Column("assigned_by", BigInteger, nullable=True),
    Column("assigned_at", UtcDateTime, nullable=False),
)

connection_mappings = Table(
    "connection_mappings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connection_id", ForeignKey("connections.id", ondelete="CASCADE"), nullable=False),
    # The connector's name of the remote object: contacts, companies, members, customers.
    Column("remote_object", String(64), nullable=False),
    Column("record_type_id", BigInteger, nullable=False, index=True),
    # [{"property", "field" (field id), "direction": pull | push | both}]
    Column("properties", JSON, nullable=False, default=list),
    # active | retired (the old copy: no pull, no push; its links and payloads stay)
    Column("state", String(16), nullable=False, default="active"),
    # Where the next pull starts (the connector's own shape); NULL: a first, full pull.
    # Written in the transaction that commits the page it follows.
    Column("cursor", JSON, nullable=True),
    Column("last_pull_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("connection_id", "remote_object"),
    sqlite_autoincrement=True,
)

external_ids = Table(
    "external_ids",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connection_id", BigInteger, nullable=False),
    Column("remote_object", String(64), nullable=False),
    Column("remote_id", exact_string(255), nullable=False),
    Column("record_type_id", BigInteger, nullable=False),
    # The record this remote row is; a merge points it at the survivor (origin_record_id
    # remembers where it came from, for undo).
    Column("record_id", BigInteger, nullable=False),
    Column("origin_record_id", BigInteger, nullable=False),
    # The remote values as last pulled or pushed, by property: a remote change since then
    # is told from a workspace change, so neither silently overwrites the other.
    Column("remote_values", JSON, nullable=False, default=dict),
    # The workspace's values of the pushed properties at the same moment (as the tool takes
    # them): a push sends what changed in the workspace since, not every difference.
    Column("workspace_values", JSON, nullable=False, default=dict),
    Column("linked_at", UtcDateTime, nullable=False),
    Column("synced_at", UtcDateTime, nullable=False),
    # Set when the row was deleted in the tool; the record and its context stay.
    Column("deleted_at", UtcDateTime, nullable=True),
    UniqueConstraint("connection_id", "remote_object", "remote_id"),
    Index("ix_external_ids_record", "record_type_id", "record_id"),
    sqlite_autoincrement=True,
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("connection_id", ForeignKey("connections.id", ondelete="CASCADE"), nullable=False),
    # pull | webhook | push
    Column("kind", String(16), nullable=False),
    # manual | schedule | webhook | resume | change
    Column("trigger", String(16), nullable=False),
    # running | done | failed | stopped (credentials rejected)
    Column("state", String(16), nullable=False),
    # {"object", "pages", "rows", "full"}: what the UI polls while it runs.
    Column("progress", JSON, nullable=False, default=dict),
    Column("error", String(2000), nullable=True),
    Column("started_by", BigInteger, nullable=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_sync_runs_connection", "connection_id", "id"),
    sqlite_autoincrement=True,
)

sync_rows = Table(
    "sync_rows",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False),
    Column("connection_id", BigInteger, nullable=False),
    Column("remote_object", String(64), nullable=False),
    # NULL when the payload named none (it is then rejected).
    Column("remote_id", exact_string(255), nullable=True),
    # What came from the tool (or was sent to it), size-capped.
    Column("payload", JSON, nullable=False),
    # pending | created | linked | updated | unchanged | conflict | rejected | deleted |
    # pushed
    Column("outcome", String(16), nullable=False),
    Column("record_id", BigInteger, nullable=True),
    # Why (rejected), what differs (conflict), what changed (updated).
    Column("detail", JSON, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_sync_rows_run", "run_id", "outcome", "id"),
    Index("ix_sync_rows_remote", "connection_id", "remote_object", "remote_id"),
    sqlite_autoincrement=True,
)

sync_conflicts = Table(
    "sync_conflicts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    Column("connection_id", BigInteger, nullable=False),
    Column("remote_object", String(64), nullable=False),
    Column("remote_id", exact_string(255), nullable=False),
    Column("record_type_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("field_id", BigInteger, nullable=False),
    Column("property", String(200), nullable=False),
    # The values when it was found: ours, theirs, and what both were at the last sync.
    Column("workspace_value", JSON, nullable=True),
    Column("remote_value", JSON, nullable=True),
    Column("base_value", JSON, nullable=True),
    # pull | push: which side found it
    Column("found_in", String(16), nullable=False),
    # open | kept_workspace | took_remote | dismissed
    Column("state", String(16), nullable=False),
    Column("found_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decided_by", BigInteger, nullable=True),
    Index("ix_sync_conflicts_open", "connection_id", "state", "id"),
    Index("ix_sync_conflicts_record", "record_type_id", "record_id"),
    sqlite_autoincrement=True,
)

# --- background jobs and the event outbox ---

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # NULL for the server's own jobs (periodic tasks, pruning).
    Column("workspace_id", BigInteger, nullable=True),
    # A kind registered through register_job_kinds ("periodic:<name>" for periodic tasks).
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    # queued | running | done | failed (an attempt failed: retried at run_at) | dead (out of
    # attempts: kept with its error until replayed) | cancelled
    Column("state", String(16), nullable=False),
    Column("run_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=5),
    # The worker holding the job renews lease_until; a job whose lease ran out is taken over.
    Column("lease_token", exact_string(32), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    # host:pid:thread of the worker that ran it last.
    Column("worker", String(200), nullable=True),
    Column("last_error", Text, nullable=True),
    # "one sync per connection": at most one unfinished job of a kind holds a key...
    Column("key", exact_string(200), nullable=True),
    # ...enforced by the unique index on (kind, live_key): live_key is the key while the
    # job is unfinished and NULL after (MySQL has no partial indexes; NULLs never clash).
    Column("live_key", exact_string(200), nullable=True),
    # {"done": n, "total": n, "message": "..."} for long jobs.
    Column("progress", JSON, nullable=True),
    Column("result", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    UniqueConstraint("kind", "live_key", name="uq_jobs_live_key"),
    # The claim: due jobs in run_at order (running jobs whose lease ran out are found through
    # its state prefix: there are only as many as workers hold). Few indexes on purpose:
    # every claim and finish rewrites the entries of the columns it changes.
    Index("ix_jobs_due", "state", "run_at", "id"),
    Index("ix_jobs_workspace", "workspace_id", "id"),
    sqlite_autoincrement=True,
)

event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", BigInteger, nullable=False),
    # record.created | record.updated | record.deleted | record.restored | record.merged |
    # form.submitted | duplicate.queued (see workspace.outbox)
    Column("kind", String(32), nullable=False),
    Column("record_type_id", BigInteger, nullable=True),
    Column("record_id", BigInteger, nullable=True),
    Column("actor_user_id", BigInteger, nullable=True),
    Column("source", String(16), nullable=False),
    Column("source_ref", String(200), nullable=True),
    # [{"field", "old", "new"}] as in the activity history.
    Column("changes", JSON, nullable=False),
    Column("data", JSON, nullable=False),
    # [[automation id, record id], ...]: the automations whose runs caused this change.
    Column("chain", JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # NULL until the worker has handed the event to every consumer.
    Column("dispatched_at", UtcDateTime, nullable=True),
    Index("ix_event_outbox_pending", "dispatched_at", "id"),
    sqlite_autoincrement=True,
)

# --- automations ---

automations = Table(
    "automations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # The type whose records it works on; no foreign key (a deleted type disables it).
    Column("record_type_id", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    # Why it was disabled by the server (a field it names was deleted...); NULL otherwise.
    Column("notice", String(1000), nullable=True),
    # The trigger's type, kept apart so the event consumer finds candidates by index.
    Column("trigger_type", String(64), nullable=False),
    # {"type": ..., config}; conditions {"filter": ..., "changed": [...]}; [{"type", ...}]
    Column("trigger", JSON, nullable=False),
    Column("conditions", JSON, nullable=False),
    Column("actions", JSON, nullable=False),
    # The secret in the address of an inbound-webhook trigger.
    Column("hook_secret", exact_string(64), nullable=True, unique=True),
    # Time triggers (a date reached, a schedule): when they next fire.
    Column("next_fire_at", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_automations_trigger", "workspace_id", "trigger_type", "enabled"),
    Index("ix_automations_fire", "enabled", "next_fire_at"),
    sqlite_autoincrement=True,
)

automation_runs = Table(
    "automation_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("automation_id", ForeignKey("automations.id", ondelete="CASCADE"), nullable=False),
    Column("workspace_id", BigInteger, nullable=False),
    Column("record_type_id", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=True),
    # What triggered it: the event (kind, changes, data...), a schedule or a webhook payload.
    Column("trigger", JSON, nullable=False),
    # [[automation id, record id], ...] of the runs that led to this one (the loop guard).
    Column("chain", JSON, nullable=False),
    # queued | running | waiting | done | skipped (conditions not met) | stopped (a stop
    # step, or the loop guard) | retrying | dead | dismissed
    Column("state", String(16), nullable=False),
    # The next step to run (0-based): a retry or a replay starts here.
    Column("step", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_automation_runs_automation", "automation_id", "id"),
    Index("ix_automation_runs_record", "record_type_id", "record_id", "id"),
    Index("ix_automation_runs_state", "workspace_id", "state", "id"),
    Index("ix_automation_runs_rate", "workspace_id", "started_at"),
    Index("ix_automation_runs_ended", "state", "finished_at"),  # pruning
    sqlite_autoincrement=True,
)

automation_steps = Table(
    "automation_steps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("automation_runs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("action", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    # done | failed | stopped | waiting
    Column("state", String(16), nullable=False),
    Column("input", JSON, nullable=True),
    Column("output", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Index("ix_automation_steps_run", "run_id", "id"),
    sqlite_autoincrement=True,
)

automation_inbound = Table(
    "automation_inbound",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("automation_id", ForeignKey("automations.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    # What was posted (size-capped), as received.
    Column("payload", JSON, nullable=False),
    # accepted (a run was queued) | refused (the automation is off, the body unreadable)
    Column("outcome", String(16), nullable=False),
    Column("run_id", BigInteger, nullable=True),
    Column("reason", String(1000), nullable=True),
    Index("ix_automation_inbound_automation", "automation_id", "id"),
    Index("ix_automation_inbound_run", "run_id"),  # pruned with its run
    sqlite_autoincrement=True,
)

mail_settings = Table(
    "mail_settings",
    metadata,
    # The SMTP server a workspace's automations send email through (one per workspace).
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    # starttls | tls (implicit, port 465) | none
    Column("security", String(16), nullable=False),
    Column("username", String(255), nullable=True),
    # {"secret": password} sealed with workspace.crypto; never shown again.
    Column("sealed", String(4000), nullable=True),
    Column("from_address", String(254), nullable=False),
    Column("updated_by", BigInteger, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

__all__ = [
    "activity",
    "api_tokens",
    "automation_inbound",
    "automation_runs",
    "automation_steps",
    "automations",
    "comments",
    "connection_mappings",
    "connections",
    "data_databases",
    "data_move_tables",
    "data_moves",
    "data_views",
    "dedupe_rules",
    "dedupe_span_types",
    "dedupe_spans",
    "duplicate_pairs",
    "event_outbox",
    "external_ids",
    "field_owners",
    "fields",
    "files",
    "form_submissions",
    "form_tokens",
    "forms",
    "idempotency_keys",
    "import_rows",
    "imports",
    "jobs",
    "mail_settings",
    "memberships",
    "merges",
    "metadata",
    "notifications",
    "rate_counts",
    "record_types",
    "sessions",
    "storage_configs",
    "storage_migration_items",
    "storage_migrations",
    "sync_conflicts",
    "sync_rows",
    "sync_runs",
    "tasks",
    "users",
    "views",
    "workspaces",
]
