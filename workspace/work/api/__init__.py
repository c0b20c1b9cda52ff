"""The API of comments, tasks and notifications."""
