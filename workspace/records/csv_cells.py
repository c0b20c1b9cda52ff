"""Cells of the CSV files the server writes and reads back: safe in a spreadsheet, lossless.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (also tab and CR, which
some trim first) as a formula, so a customer who types ``=HYPERLINK(...)`` into a form could
run it on a colleague's machine. Such free-text cells are written with a leading single quote
(OWASP's advice); plain negative numbers stay as they are, since they cannot be formulas.

Reading a file back undoes exactly that and nothing else, so an export imports as it was: the
quote is removed only where :func:`guard` would have added it. A text that itself starts with
a quote before a guarded character (``'=x``) is written with one more quote, so it survives
the round trip too. Values of types whose text cannot be typed freely (numbers, money, dates,
phone numbers in E.164, checkboxes) are written as they are.
"""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-\d+(\.\d+)?")


def _guarded(text: str) -> bool:
    """Whether :func:`guard` puts a quote before ``text``."""
    while text.startswith("'"):
        text = text[1:]
    return text.startswith(FORMULA_START) and not NUMBER.fullmatch(text)


def guard(text: str) -> str:
    """The cell to write for a free-text value."""
    return "'" + text if _guarded(text) else text


def unguard(cell: str) -> str:
    """The value a cell written by :func:`guard` holds; any other cell as it is."""
    if cell.startswith("'") and _guarded(cell[1:]):
        return cell[1:]
    return cell
