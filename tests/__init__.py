"""Project-wide tests that are not about one app: configuration, documentation."""
