"""Built-in dedupe rule ``person_name``: one key per given + family name, in either order.

Names are split by ``nameparser`` rather than by hand: it knows titles ("Dr.", "Prof.",
"Mr. and Mrs."), suffixes ("Jr.", "III", "PhD"), "Last, First" order, family-name particles
("van", "de la") and nicknames in quotes or parentheses, and it is actively maintained. Its
licence is LGPL-2.1-or-later. That is fine for this Apache-2.0 project: we import the package
unmodified and it is installed as a separate distribution, so a user can swap in their own
build, which is all the LGPL asks of a program that uses a library. Only changes to
nameparser itself would have to be LGPL. Unidecode, by contrast, is GPL and is not used:
``plugins.dedupe_text`` folds the letters that matter.

The key is the folded given name and family name, sorted, so "Smith John" == "John Smith" (a
swapped first/last name is the most common data-entry slip). Decisions:
- Titles, middle names and suffixes are not part of the key: "Dr. John A. Smith Jr." ==
  "Smith, John". Records often drop them. The fuzzy ``contact`` rule does use them: Jr. against
  Sr. is father and son.
- Inside a part, everything but letters and digits goes: "O'Brien" == "OBrien", "Mary-Jane" ==
  "Maryjane", "van der Berg" == "Vanderberg".
- A name without both a given and a family name, or with only an initial as the given name
  ("J. Smith"), gives no key. Half a name is shared by too many people to decide "same".
- With two fields (first name, last name) the rule reads them as "last, first", so a title in
  the first field or a suffix in the last is still recognised. A single filled field is read
  as a full name.
- Nicknames ("Bob" for Robert) are not folded into the key: "Pat" is Patricia or Patrick, so
  an exact rule would merge two people. ``nickname_of`` tells the fuzzy ``contact`` rule that
  two given names may be one person's, from the ``nicknames`` package (a hand-curated list
  of English given names and their nicknames, Apache-2.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any

from nameparser import parse
from nicknames import NickNamer

from plugins.dedupe_text import compact, fold_letters, spellings, text_of
from workspace import DedupeRule, RuleContext, hookimpl

#: Longer text is not a person's name; parsing it would only cost time.
MAX_CHARS = 200
#: Parsed names kept: a scan of 100,000 records meets each record many times, in no useful
#: order, so the cache must hold them all (at 65,536 most lookups missed and the scan of
#: the bench's 100,000-record CRM set took half as long again).
CACHED = 1 << 17


@hookimpl
def register_dedupe_rules(register: Any) -> None:
    register(PersonNameRule)


@dataclass(frozen=True)
class PersonName:
    """A parsed name: ``raw_*`` as written, the rest folded and compacted for comparing."""

    raw_given: str
    raw_family: str
    given: str
    middle: tuple[str, ...]
    family: str
    suffix: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Both a given and a family name."""
        return bool(self.given and self.family)

    @property
    def words(self) -> str:
        return " ".join(w for w in (self.given, *self.middle, self.family) if w)


@lru_cache(maxsize=CACHED)
def _parse(text: str) -> PersonName:
    # Parsing costs about 0.4 ms; a scan meets the same names again and again.
    parsed = parse(text)
    return PersonName(
        raw_given=parsed.given,
        raw_family=parsed.family,
        given=compact(fold_letters(parsed.given)),
        middle=_words(parsed.middle),
        family=compact(fold_letters(parsed.family)),
        suffix=_words(parsed.suffix),
    )


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in (compact(fold_letters(w)) for w in text.replace(",", " ").split()) if w)


def person_name(values: Sequence[Any]) -> PersonName | None:
    """The name in one full-name value, or in a (first name, last name) pair."""
    texts = [text_of(v) for v in values[:2]]
    first, last = [*texts, None, None][:2]
    text = f"{last}, {first}" if first and last else first or last or ""
    if not text or len(text) > MAX_CHARS:
        return None
    name = _parse(text)
    return name if name.given or name.family else None


def name_keys(name: PersonName | None) -> set[str]:
    """Order-free keys of a complete name, one per spelling of its umlauts."""
    if name is None or not name.complete or len(name.given) < 2:
        return set()
    givens = {compact(s) for s in spellings(name.raw_given)}
    families = {compact(s) for s in spellings(name.raw_family)}
    return {" ".join(sorted(pair)) for pair in product(givens, families) if all(pair)}


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=65536)
def nickname_of(a: str, b: str) -> bool:
    """Whether two different given names (folded) can be one person's: one is a known
    nickname of the other ("bob" / "robert"), or both are nicknames of one name ("bob" /
    "rob")."""
    if a == b or not a or not b:
        return False
    names = _nicknamer()
    if b in names.nicknames_of(a) or a in names.nicknames_of(b):
        return True
    return bool(names.canonicals_of(a) & names.canonicals_of(b))


class PersonNameRule(DedupeRule):
    """Same person's name: given and family name equal, in either order, once titles,
    suffixes, middle names, case, accents and punctuation are set aside."""

    name = "person_name"
    label = "Person name"
    field_types = frozenset({"text"})
    arity = (1, 2)

    def keys(self, values: Sequence[Any], ctx: RuleContext) -> set[str]:
        return name_keys(person_name(values))
