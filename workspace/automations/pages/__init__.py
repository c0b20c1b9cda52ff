"""The automation pages: definitions (list, form, on/off, duplicate, delete) and the run
log (an automation's page with its dry run and dead letter, a run's page)."""
