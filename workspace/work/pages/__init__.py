"""Comments and tasks on the record page, My tasks and notifications."""
