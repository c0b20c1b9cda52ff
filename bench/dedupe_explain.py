"""Why a figure falls short: our false positives and false negatives grouped by reason.

The rule's reasons are words with numbers ("name 0.97 similar (+3.4)"); the numbers are
dropped to group them. A false negative is either a pair no blocking key brought together
(never compared) or one the rule scored under its threshold.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from dedupe_metrics import LabelledSet, Pair

from workspace import RuleContext

_NUMBERS = re.compile(r"\s*\([^)]*\)")


def _fuzzy_rule(data: LabelledSet) -> tuple[Any, list[str | None]]:
    from plugins.dedupe_contact import ContactRule

    spec = next(r for r in data.rules if r["rule"] == "contact")
    return ContactRule(), spec["fields"]


def explain(data: LabelledSet, predicted: set[Pair], top: int, region: str = "US") -> None:
    rule, fields = _fuzzy_rule(data)
    ctx = RuleContext(region)
    values = [[r.get(f) if f else None for f in fields] for r in data.records]
    keys = [rule.keys(v, ctx) for v in values]
    truth = data.truth()
    groups: dict[str, Counter[str]] = {"false positives": Counter(), "false negatives": Counter()}
    examples: dict[str, list[Pair]] = defaultdict(list)
    for kind, pairs in (
        ("false positives", predicted - truth),
        ("false negatives", truth - predicted),
    ):
        for a, b in pairs:
            if kind == "false negatives" and not keys[a] & keys[b]:
                reason = "never compared: no blocking key in common"
            else:
                score = rule.score(values[a], values[b], ctx)
                reason = " | ".join(sorted(_NUMBERS.sub("", r) for r in score.reasons))
            groups[kind][reason] += 1
            examples[kind + reason].append((a, b))
    for kind, counter in groups.items():
        print(f"  {kind}: {sum(counter.values()):,}")
        for reason, count in counter.most_common(top):
            print(f"    {count:6,}  {reason}")
            for a, b in examples[kind + reason][:2]:
                print(f"            {values[a]}  ~  {values[b]}")
