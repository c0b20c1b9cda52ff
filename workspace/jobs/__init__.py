"""Background work: one durable job queue in the control database, its workers, periodic
tasks, and the dispatch of outbox events to their consumers.

``queue`` is what other packages call (enqueue, finish, reschedule, progress, replay,
cancel), always inside their own transaction; ``kinds`` holds the types plugins register
(``JobKind``, ``PeriodicTask``, event consumers); ``worker`` runs them.
"""
