"""Built-in dedupe rule ``company``: one key per organisation name, legal form aside.

"ACME, Inc.", "Acme Incorporated" and "acme inc" are one company; "Acme Bank" is another. The
key is built in steps, each a decision:

1. Case and accents are folded (``workspace.fold`` plus the letters it cannot decompose, see
   ``plugins.dedupe_text``); a name with German umlauts also gets its "ue" spellings as keys.
2. Dots that close a one-letter abbreviation are joined ("S.A." -> "sa", "L.L.C." -> "llc",
   "J.P. Morgan" -> "jp morgan"); apostrophes are dropped ("McDonald's" -> "mcdonalds"); every
   other punctuation mark separates words; whitespace collapses.
3. "&" and a connective word between two words ("and", "und", "et", "y", "och", "og") become
   the one word "and": "Müller & Söhne" == "Müller und Söhne" == "Mueller and Sohne".
4. A leading "The" goes, and so do legal forms at the end, repeatedly ("GmbH & Co. KG",
   "Pty Ltd", "Co., Ltd."). A few forms that are written first ("AB Volvo", "PT Astra",
   "OOO Romashka") go at the start. Only legal forms are removed: "Bank", "Group" or "Holdings"
   name a different entity as often as not.
5. A name that is nothing but a legal form ("Company", "AG") keeps itself rather than
   becoming empty, which would match every other such name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from plugins.dedupe_text import spellings, text_of
from workspace import DedupeRule, RuleContext, hookimpl


@hookimpl
def register_dedupe_rules(register: Any) -> None:
    register(CompanyRule)


# Legal forms as words after step 2 (folded, abbreviation dots joined). Grouped by where
# they are used; several are shared (SA, AS, SRL).
_LEGAL_WORDS = """
    inc incorporated corp corporation co company cie cia ltd limited llc llp lllp lp plc pllc
    gmbh mbh ag kg ohg kgaa gbr ug ev eg se haftungsbeschrankt haftungsbeschraenkt
    sa sarl sas sasu eurl sca scs snc sprl
    sl slu srl srls spa sapa ltda lda eireli
    bv nv bvba cvba vof
    ab oy oyj as asa aps hf ehf
    sro doo dd kft zrt nyrt
    ooo oao zao pao
    kk gk yk
    pty pte pvt bhd tbk
"""

# Several-word legal forms, for the words that are not legal forms on their own ("de", "z",
# "public", "kaisha"). "a s" is "A/S" (Danish, Norwegian), "i s" is "I/S".
_LEGAL_PHRASES = """
    and co | and cie | and cia | and company | sa de cv | sab de cv | s de rl | s de rl de cv
    sp z oo | a s | i s
    sdn bhd | ltd sti | kabushiki kaisha | godo kaisha | yugen kaisha | private limited
    public limited company | limited liability company | sociedad anonima | sociedad limitada
"""

LEGAL_FORMS: frozenset[tuple[str, ...]] = frozenset(
    {(word,) for word in _LEGAL_WORDS.split()}
    | {
        tuple(phrase.split())
        for line in _LEGAL_PHRASES.splitlines()
        for phrase in line.split("|")
        if phrase.strip()
    }
)

# Legal forms by their last word, longest first ("s de rl de cv" before "s de rl"), so
# stripping looks at a handful of candidates instead of every form.
_FORMS_BY_LAST_WORD: dict[str, list[tuple[str, ...]]] = {}
for _form in sorted(LEGAL_FORMS, key=len, reverse=True):
    _FORMS_BY_LAST_WORD.setdefault(_form[-1], []).append(_form)

#: Legal forms (and the article) that are written before the name.
LEADING_FORMS = frozenset({"the", "ab", "pt", "ooo", "oao", "zao", "pao"})

#: Connectives between two words that mean "and" in the languages of the legal forms above.
CONNECTIVES = frozenset({"and", "und", "et", "y", "och", "og"})

_ABBREVIATION_DOT = re.compile(r"\b(\w)\.")
_APOSTROPHES = re.compile("['`\u2019\u00b4]")  # ' ` and the typographic ones
_NOT_WORD = re.compile(r"[^\w]+|_")


def company_words(folded: str) -> list[str]:
    """The words of a folded company name, legal form removed (steps 2 to 5)."""
    text = _ABBREVIATION_DOT.sub(r"\1", folded.replace("&", " and "))
    words = _NOT_WORD.sub(" ", _APOSTROPHES.sub("", text)).split()
    words = [
        "and" if 0 < i < len(words) - 1 and word in CONNECTIVES else word
        for i, word in enumerate(words)
    ]
    while len(words) > 1 and words[0] in LEADING_FORMS:
        words = words[1:]
    while len(words) > 1:
        form = next(
            (
                form
                for form in _FORMS_BY_LAST_WORD.get(words[-1], ())
                if len(words) > len(form) and tuple(words[-len(form) :]) == form
            ),
            None,
        )
        if form is None:
            break
        words = words[: -len(form)]
    return words


def company_keys(value: Any) -> set[str]:
    """Keys of one company name: one per spelling (plain fold, umlauts spelled out)."""
    text = text_of(value)
    return set(_keys(text)) if text is not None else set()


@lru_cache(maxsize=65536)
def _keys(text: str) -> frozenset[str]:
    # Colleagues share a company name, so a scan meets each one many times.
    return frozenset(" ".join(words) for words in map(company_words, spellings(text)) if words)


class CompanyRule(DedupeRule):
    """Same organisation: equal names once case, accents, punctuation, "&"/"and" and the
    legal form are set aside."""

    name = "company"
    label = "Company name"
    field_types = frozenset({"text"})

    def keys(self, values: Sequence[Any], ctx: RuleContext) -> set[str]:
        return company_keys(values[0]) if values else set()
