"""Duplicates: the dedupe rules of a record type, the review queue and its scan, merges
with survivorship and undo. Match keys on write live in ``workspace.records.match_keys``."""
