"""CSV imports: a file's rows become records through the same write path as the API, each
row kept with its outcome."""
