"""Records: the write path every entry path shares (values, match keys, dedupe decisions,
activity), reads, lists and saved views, links both ways, deletes and tombstones."""
