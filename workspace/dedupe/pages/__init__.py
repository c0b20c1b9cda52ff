"""The duplicates screens: rules, review queue, merge."""
