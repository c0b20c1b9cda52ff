"""Text folding shared by the built-in dedupe rules (not a plugin: it registers nothing).

``workspace.fold`` removes case and combining accents ("José" -> "jose"), but some letters are
not a base letter plus an accent and survive it ("ø", "æ", "ł"). Unidecode would transliterate
them, but it is GPL and this project is Apache-2.0, so the few letters that matter for names
in Latin scripts are listed here instead.

German umlauts are transliterated two ways in the wild: "Müller" is typed "Muller" and
"Mueller". ``fold`` gives the first; ``spellings`` adds the second, word by word, as extra
keys, so "Müller & Söhne" matches "Muller and Sohne", "Mueller and Soehne" and the mixed
"Mueller and Sohne". The keys stay one-directional: "Mueller" and "Muller" written without
umlauts do not match each other, since nothing says they are the same name.
"""

from __future__ import annotations

import unicodedata
from itertools import product
from typing import Any

from workspace import fold

#: Letters that have no decomposition, so ``fold`` keeps them (input is already casefolded;
#: "ß" needs no entry, casefold turns it into "ss").
EXTRA_LETTERS = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "\u0131": "i",  # dotless i (Turkish)
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "ng",
        "ĸ": "k",
    }
)

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def text_of(value: Any) -> str | None:
    """The stripped text of a field value, or None when there is nothing to match on.
    Integers are read as text (a phone number imported from a spreadsheet)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    # NFC first so a decomposed "u" + U+0308 counts as "ü" for the umlaut variant.
    text = unicodedata.normalize("NFC", value).strip()
    return text or None


def fold_letters(text: str) -> str:
    """``workspace.fold`` plus the letters it cannot decompose ("Søren" -> "soren")."""
    return fold(text).translate(EXTRA_LETTERS)


def umlaut_variant(text: str) -> str | None:
    """``text`` with German umlauts spelled out ("Müller" -> "Mueller"), or None when it has
    none (then the variant would only repeat the folded key)."""
    expanded = text.translate(_UMLAUTS)
    return expanded if expanded != text else None


def spellings(text: str, max_words: int = 3) -> list[str]:
    """Folded spellings of ``text``: the plain fold and, for each word with an umlaut, its
    "ue" spelling too, in every combination ("Müller & Söhne" also gives "mueller & sohne"
    and "mueller & soehne"), because people transliterate word by word. Past ``max_words``
    such words only the all-plain and all-spelled-out forms are given, to bound the keys."""
    words = text.split(" ")
    umlauted = [i for i, word in enumerate(words) if umlaut_variant(word) is not None]
    if not umlauted:
        return [fold_letters(text)]
    if len(umlauted) > max_words:
        return [fold_letters(text), fold_letters(text.translate(_UMLAUTS))]
    out: list[str] = []
    for choice in product((False, True), repeat=len(umlauted)):
        variant = list(words)
        for index, spell_out in zip(umlauted, choice, strict=True):
            if spell_out:
                variant[index] = variant[index].translate(_UMLAUTS)
        out.append(fold_letters(" ".join(variant)))
    return out


def compact(text: str) -> str:
    """Only the letters and digits of an already folded text ("o'brien" -> "obrien")."""
    return "".join(ch for ch in text if ch.isalnum())
