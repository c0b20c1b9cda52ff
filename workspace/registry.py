"""Named extensions (field types, dedupe rules) as plugins register them."""

from __future__ import annotations

from typing import ClassVar, Generic, Protocol, TypeVar


class Named(Protocol):
    name: ClassVar[str]


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Instances by ``name``; registering a class instantiates it once."""

    #: What the registry holds, for messages ("field type", "dedupe rule").
    kind = "extension"

    def __init__(self) -> None:
        self._items: dict[str, T] = {}

    def register(self, item: type[T] | T) -> None:
        instance = item() if isinstance(item, type) else item
        if instance.name in self._items:
            raise ValueError(f"{self.kind} {instance.name!r} is registered twice")
        self._items[instance.name] = instance

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self.unknown(name) from None

    def unknown(self, name: object) -> Exception:
        return LookupError(f"unknown {self.kind} {name!r}")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
