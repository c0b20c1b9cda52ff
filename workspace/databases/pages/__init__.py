"""The data database page and the progress of a move."""
