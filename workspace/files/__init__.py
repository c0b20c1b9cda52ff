"""Files on records: upload, download, delete and restore, and what a file is from its bytes."""
