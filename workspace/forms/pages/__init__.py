"""The form builder, the public form pages and the submissions list."""
