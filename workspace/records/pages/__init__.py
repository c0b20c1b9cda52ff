"""The table view and the record page."""
