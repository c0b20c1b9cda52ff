"""File pages: upload, download, the files section of a record page."""
