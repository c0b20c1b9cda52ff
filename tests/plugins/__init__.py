"""Plugins that exist only for tests, registered per test through fixtures."""
