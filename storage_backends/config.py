"""Reading a backend's settings from an admin's mapping, with errors that name the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_backends import BadConfig

#: Seconds a network backend waits for a connection or for any one read or write.
DEFAULT_TIMEOUT = 30.0


class ConfigReader:
    """Collects every problem with a config, then raises them together in :meth:`done`:

    >>> read = ConfigReader("s3", {"bucket": "files"})
    >>> bucket = read.text("bucket")
    >>> read.done()
    """

    def __init__(self, kind: str, config: Mapping[str, Any]) -> None:
        self.kind = kind
        self.config = config
        self.errors: dict[str, str] = {}
        self.seen: set[str] = set()

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        value = self.config.get(key)
        if value is None or value == "":
            if default is ...:
                self.errors[key] = "is required"
            return default
        return value

    def text(self, key: str, default: Any = ...) -> Any:
        value = self._get(key, default)
        if value is not default and not isinstance(value, str):
            self.errors[key] = "must be text"
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            self.errors[key] = f"must be a number from {low:g} to {high:g}"
            return default
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.errors[key] = f"must be a whole number from {low} to {high}"
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.errors[key] = "must be true or false"
            return default
        return value

    def timeout(self) -> float:
        return self.number("timeout", DEFAULT_TIMEOUT, 0.1, 3600)

    def error(self, key: str, reason: str) -> None:
        self.errors.setdefault(key, reason)

    def done(self) -> None:
        """Raise BadConfig naming each bad or unknown key, if any."""
        for key in sorted(set(self.config) - self.seen):
            self.errors[key] = "is not a setting of this backend"
        if self.errors:
            summary = "; ".join(f"{key} {reason}" for key, reason in self.errors.items())
            raise BadConfig(f"{self.kind} storage: {summary}", dict(self.errors))
