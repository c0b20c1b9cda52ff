"""The dedupe rules of a record type as the duplicates screen shows and edits them.

A rule reads fields by position (the ``contact`` rule: name, email, phone, company; an empty
position is skipped), so the add form shows one select per position, offering the fields of
the types the rule can read. Modes are said in plain words, the merge policy per field only
matters in Update mode, and a fuzzy rule's threshold is a percentage, like the queue's scores.
The ``dedupe_rules`` service is the judge of what is valid; this only reads the forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workspace.dedupe.rules import CREATE_MODES, POLICIES, UPDATE_MODES
from workspace.errors import ValidationFailed, WorkspaceError
from workspace.matching import DedupeRule
from workspace.records.match_keys import DEFAULT_THRESHOLD
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef

#: What each position of a multi-field rule reads (the rule's own order).
SLOT_NAMES = {
    "contact": ("Name", "Email", "Phone", "Company", "Address", "Date of birth"),
    "person_name": ("Full name, or first name", "Last name"),
}
#: Built-in rules in the order the add form offers them: the most telling first.
PREFERRED = ("email", "phone", "person_name", "company", "contact")
#: Field names that suggest what a position wants, for the preselected field.
HINTS = {
    "Name": ("name",),
    "Full name, or first name": ("first", "given", "name"),
    "Last name": ("last", "family", "surname"),
    "Company": ("company", "employer", "organi", "account"),
}
MODES = {
    "on_create": {
        "off": ("Off", "New records are not checked by this rule."),
        "block": ("Block", "Refuse the new record and point to the one already on file."),
        "update": (
            "Update",
            "Add no second record: copy the new values into the one on file, "
            "field by field as the merge policy says.",
        ),
        "warn": ("Warn", "Add the record, and put the pair in the review queue."),
    },
    "on_update": {
        "off": ("Off", "Edits are not checked by this rule."),
        "block": ("Block", "Refuse an edit that makes a record the same as another one."),
        "warn": ("Warn", "Save the edit, and put the pair in the review queue."),
    },
}
POLICY_LABELS = {
    "fill_empty": "Fill in only if empty",
    "overwrite": "Overwrite",
    "ignore": "Never change",
}
DEFAULT_POLICY = "fill_empty"
#: What each built-in rule counts as "the same", for the person picking one.
RULE_HELP = {
    "email": "Same email address, ignoring case, spaces and, where the provider ignores "
    "them (Gmail), dots and +tags.",
    "phone": "Same phone number however it was written: +44 20 7946 0958, 020 7946 0958…",
    "company": "Same company name, ignoring Inc, Ltd, GmbH and the like, punctuation, "
    "“&” or “and”, and accents.",
    "person_name": "Same given and family name, in either order, ignoring titles, middle "
    "names and accents.",
    "contact": "Weighs name, email, phone, company, address and date of birth together and "
    "scores each pair, so it finds typos, nicknames and swapped names. It never refuses a "
    "record: likely pairs go to the review queue.",
}


@dataclass(frozen=True)
class Slot:
    """One position of a rule: what it reads, the fields it may read, which is chosen."""

    index: int
    label: str
    optional: bool
    options: list[FieldDef]
    chosen: str


def usable_rules(runtime: Runtime, rt: RecordTypeDef) -> list[DedupeRule]:
    """Rules that can read at least one field of ``rt``: the built-ins in the order people
    reach for them (the first is what the add form offers), then others by label."""
    found = []
    for name in runtime.dedupe_rules.names():
        rule = runtime.dedupe_rules.get(name)
        if any(f.type.name in rule.field_types for f in rt.fields):
            found.append(rule)
    rank = {name: i for i, name in enumerate(PREFERRED)}
    return sorted(found, key=lambda r: (rank.get(r.name, len(rank)), r.label.lower()))


def pick_rule(rules: list[DedupeRule], name: str | None) -> DedupeRule | None:
    """The rule asked for, else the first one offered."""
    return next((r for r in rules if r.name == name), rules[0] if rules else None)


def mode_choices(rule: DedupeRule, which: str) -> list[tuple[str, str, str]]:
    """(mode, label, explanation) a rule allows on create or on edit."""
    allowed = (
        ("off", "warn") if rule.fuzzy else CREATE_MODES if which == "on_create" else UPDATE_MODES
    )
    words = MODES[which]
    return [(mode, *words[mode]) for mode in allowed]


def default_mode(rule: DedupeRule) -> str:
    """What the service picks when no mode is given."""
    return "warn" if rule.fuzzy else "block"


def slots(rt: RecordTypeDef, rule: DedupeRule, chosen: list[str] | None = None) -> list[Slot]:
    """The positions of ``rule``; ``chosen`` keys as posted, else a sensible guess."""
    high = rule.arity[1]
    names = SLOT_NAMES.get(rule.name) or (
        ("Field",) if high == 1 else tuple(f"Field {i + 1}" for i in range(high))
    )
    options = [f for f in rt.fields if f.type.name in rule.field_types]
    found, taken = [], set[str]()
    for index in range(high):
        label = names[index] if index < len(names) else f"Field {index + 1}"
        if chosen is not None:
            key = chosen[index] if index < len(chosen) else ""
        else:
            key = _guess(rule, label, options, taken, required=index == 0)
        taken.add(key)
        found.append(Slot(index, label, index > 0, options, key))
    return found


def _guess(
    rule: DedupeRule, label: str, options: list[FieldDef], taken: set[str], *, required: bool
) -> str:
    """A field for a position: one of the type it names (email, phone), else one whose name
    hints at it; the first position always gets a field, the others only a good match."""
    free = [f for f in options if f.key not in taken]
    wanted = label.lower()
    for f in free:
        if f.type.name in {"email", "phone"} and f.type.name in (wanted, rule.name):
            return f.key
    for hint in HINTS.get(label, ()):
        for f in free:
            if f.type.name == "text" and hint in f.name.lower():
                return f.key
    if required and free:
        same_kind = [f for f in free if f.type.name == rule.name]
        return (same_kind or free)[0].key
    return ""


# ---- reading the forms -----------------------------------------------------------------


def posted_slots(data: Mapping[str, Any], high: int) -> list[str]:
    return [last(data, f"slot{i}") for i in range(high)]


def new_rule_spec(rule: DedupeRule, data: Mapping[str, Any], rt: RecordTypeDef) -> dict[str, Any]:
    """What the add form posted, as ``dedupe_rules.add_rule`` takes it."""
    keys: list[str | None] = [k or None for k in posted_slots(data, rule.arity[1])]
    while len(keys) > rule.arity[0] and keys[-1] is None:
        keys.pop()  # trailing positions left empty: the rule reads fewer fields
    return {"rule": rule.name, "fields": keys, **settings_from(rule, data, rt)}


def settings_from(rule: DedupeRule, data: Mapping[str, Any], rt: RecordTypeDef) -> dict[str, Any]:
    """Modes, merge policy and threshold as posted (what a change may change)."""
    spec: dict[str, Any] = {
        "on_create": last(data, "on_create") or default_mode(rule),
        "on_update": last(data, "on_update") or default_mode(rule),
        "merge_policy": {
            f.key: policy
            for f in rt.fields
            if (policy := last(data, f"policy.{f.key}")) and policy != DEFAULT_POLICY
        },
    }
    if rule.fuzzy:
        spec["threshold"] = threshold_from(last(data, "threshold"))
    return spec


def threshold_from(text: str) -> float | None:
    """A percentage ("85", "85 %", "85,5") as the 0..1 the service takes; empty: default."""
    text = text.replace("%", "").replace(",", ".").strip()
    if not text:
        return None
    try:
        percent = float(text)
    except ValueError:
        percent = -1.0
    if not 0 < percent <= 100:
        raise ValidationFailed.single("threshold", "enter a percentage above 0 and up to 100")
    return round(percent / 100, 4)


def last(form: Mapping[str, Any], key: str) -> str:
    """A form value as stripped text: the last one if the key was sent several times."""
    value = form.get(key)
    if isinstance(value, list):
        value = value[-1] if value else None
    return "" if value is None else str(value).strip()


# ---- showing rules ---------------------------------------------------------------------


def rule_view(runtime: Runtime, rt: RecordTypeDef, public: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as the list shows it: what it reads, what it does, in words."""
    rule = runtime.dedupe_rules.get(public["rule"])
    names = {f.key: f.name for f in rt.fields}
    labels = [s.label for s in slots(rt, rule, [k or "" for k in public["fields"]])]
    reads = [
        (labels[i] if len(labels) > 1 else None, names.get(key, key) if key else None)
        for i, key in enumerate(public["fields"])
    ]
    threshold = public["threshold"]
    return {
        **public,
        "rule_def": rule,
        "reads": reads,
        "create_words": MODES["on_create"][public["on_create"]],
        "update_words": MODES["on_update"][public["on_update"]],
        "threshold_percent": percent(threshold if threshold is not None else DEFAULT_THRESHOLD),
        "threshold_text": percent(threshold) if threshold is not None else "",
        "policies": [
            (names[k], POLICY_LABELS[p]) for k, p in public["merge_policy"].items() if k in names
        ],
    }


def form_values(view: Mapping[str, Any], data: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a rule's change form shows: the rule as saved, or what was just posted."""
    if data is None:
        return {
            "on_create": view["on_create"],
            "on_update": view["on_update"],
            "threshold": view["threshold_text"],
            "policy": dict(view["merge_policy"]),
        }
    return {
        "on_create": last(data, "on_create"),
        "on_update": last(data, "on_update"),
        "threshold": last(data, "threshold"),
        "policy": {k[7:]: last(data, k) for k in data if k.startswith("policy.")},
    }


def percent(value: float | None) -> str:
    if value is None:
        return ""
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return text


def policy_choices() -> list[tuple[str, str]]:
    return [
        (p, POLICY_LABELS[p])
        for p in (DEFAULT_POLICY, *(p for p in POLICIES if p != DEFAULT_POLICY))
    ]


# ---- refusals --------------------------------------------------------------------------


def errors_of(exc: WorkspaceError) -> dict[str, str]:
    """Reasons by the input they belong to (``fields``, ``on_create``, ``threshold``...); the
    rest under ``""`` (shown above the form)."""
    shown = {"rule", "fields", "on_create", "on_update", "merge_policy", "threshold"}
    found = {k: sentence(v) for k, v in exc.fields.items() if k in shown}
    rest = [f"{k}: {v}" for k, v in exc.fields.items() if k not in shown]
    if rest or not found:
        found[""] = sentence("; ".join(rest) or exc.message)
    return found


def sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."
