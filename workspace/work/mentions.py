"""@mentions in comments: which member a handle names.

A member's handle is the part of their email before the ``@`` (``@ada`` for
ada@example.org), matched without regard to case. When two members share that part, the
short handle names neither of them and each is mentioned by the whole address
(``@ada@example.org``), which always works. Handles are derived, not stored: nothing to keep
in step when someone changes their email.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: ``@`` not glued to a word or another address, then a handle or a whole email address.
MENTION = re.compile(
    r"(?<![\w@.+-])@([a-z0-9](?:[a-z0-9._+-]*[a-z0-9_+-])?"
    r"(?:@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    handle: str


def directory(members: Iterable[Mapping[str, Any]]) -> dict[str, Member]:
    """Every handle that names exactly one member (short handles and whole addresses), from
    rows of ``workspaces.list_members``."""
    rows = list(members)
    shorts: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        shorts.setdefault(_local(row["email"]), []).append(row)
    found: dict[str, Member] = {}
    for row in rows:
        email = str(row["email"]).lower()
        short = _local(email)
        handle = short if len(shorts[short]) == 1 else email
        member = Member(int(row["user_id"]), row["name"] or email, handle)
        found[email] = member
        if handle == short:
            found[short] = member
    return found


def handles(members: Iterable[Mapping[str, Any]]) -> list[Member]:
    """One entry per member with the handle to type, for the hint under the comment box."""
    unique = {m.user_id: m for m in directory(members).values()}
    return sorted(unique.values(), key=lambda m: m.handle)


#: Enough choices to pick from while typing; more is a longer list, not a better one.
SEARCH_LIMIT = 10


def search(
    members: Iterable[Mapping[str, Any]], query: str, limit: int = SEARCH_LIMIT
) -> list[dict[str, Any]]:
    """The members whose name, email or handle contains ``query`` (any case), each row with
    the ``handle`` that mentions them, for the picker under the comment box.

    Names and handles that start with the query come first (typing ``@ad`` wants Ada before
    Conrad), then the rest, each group in handle order; at most ``limit`` rows.
    """
    rows = list(members)
    people = directory(rows)
    needle = query.strip().lstrip("@").lower()
    found: list[tuple[bool, str, dict[str, Any]]] = []
    for row in rows:
        member = people[str(row["email"]).lower()]
        words = [member.handle, *str(row["name"] or "").lower().split()]
        texts = [member.name.lower(), str(row["email"]).lower(), member.handle]
        if any(needle in text for text in texts):
            starts = any(word.startswith(needle) for word in words)
            found.append((not starts, member.handle, {**row, "handle": member.handle}))
    found.sort(key=lambda hit: hit[:2])
    return [row for _, _, row in found[:limit]]


def mentioned(text: str, people: Mapping[str, Member]) -> list[int]:
    """The members ``text`` mentions, in order of first mention."""
    found: dict[int, None] = {}
    for match in MENTION.finditer(text):
        member = people.get(match.group(1).lower())
        if member is not None:
            found[member.user_id] = None
    return list(found)


def _local(email: str) -> str:
    return str(email).lower().rsplit("@", 1)[0]
