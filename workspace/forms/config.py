"""What a public form shows and does, checked against its record type.

A form's config is JSON in ``forms.config``: the fields it shows (label, help text, required,
order, hidden with a query-string prefill or a fixed value, never overwritten from this form;
for file fields how many files and of which kind), the duplicate policy, the success
message or redirect, and whether the submitter gets a self-service edit link.
:func:`clean_config` refuses what cannot work (a field the type does not have, a hidden
field with no value, a hidden file field, a redirect to a host not allowed) and
:func:`load_config` reads a stored config leniently, because the record type may have
changed since the form was saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from workspace.errors import ValidationFailed
from workspace.files.files import MAX_FILES
from workspace.forms.file_kinds import KINDS
from workspace.records.file_values import FILE_FIELD_TYPE
from workspace.records.match_keys import Override, policy_override
from workspace.schema.fields import FieldDef, FieldError, ValueContext
from workspace.schema.tables import RecordTypeDef

#: Field types a stranger may fill in. Relations and users would show other records' titles
#: or the team's names; other types can still be set as a hidden fixed value.
PUBLIC_TYPES = frozenset(
    {
        "text",
        "long_text",
        "number",
        "money",
        "date",
        "datetime",
        "checkbox",
        "email",
        "phone",
        "url",
        "single_choice",
        "multiple_choice",
        FILE_FIELD_TYPE,
    }
)
#: Duplicate policy -> how dedupe treats a match for submissions of this form.
POLICIES = {
    "create": "Create a new record anyway",
    "review": "Create a new record and put the pair in the review queue",
    "update": "Update the record on file with what was sent",
    "fill_empty": "Fill only the empty fields of the record on file",
    "refuse": "Refuse the submission with a neutral message",
}
DEFAULT_POLICY = "fill_empty"
DEFAULT_SUCCESS = "Thank you! We have received your details."
PARAM = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LIMITS = {"label": 200, "help": 500, "intro": 2000, "success_message": 2000, "redirect_url": 2000}


@dataclass(frozen=True)
class FormField:
    """One field of the record type as this form shows it."""

    key: str
    label: str
    help: str = ""
    required: bool = False
    hidden: bool = False
    #: Query-string parameter that pre-fills the field (``?utm_source=...``).
    prefill: str = ""
    #: A fixed value set on every submission (hidden fields only).
    value: Any = None
    #: Never overwritten when a submission updates a record on file.
    protect: bool = False
    #: File fields only (None on others): most files one submission attaches through it.
    max_files: int | None = None
    #: File fields only: which files it takes (a key of :data:`KINDS`).
    kinds: str | None = None

    def public(self) -> dict[str, Any]:
        shape = {
            "key": self.key,
            "label": self.label,
            "help": self.help,
            "required": self.required,
            "hidden": self.hidden,
            "prefill": self.prefill,
            "value": self.value,
            "protect": self.protect,
        }
        if self.max_files is not None:
            shape.update(max_files=self.max_files, kinds=self.kinds or "any")
        return shape


@dataclass(frozen=True)
class FormConfig:
    fields: tuple[FormField, ...]
    policy: str = DEFAULT_POLICY
    intro: str = ""
    success_message: str = DEFAULT_SUCCESS
    redirect_url: str = ""
    edit_link: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "fields": [f.public() for f in self.fields],
            "policy": self.policy,
            "intro": self.intro,
            "success_message": self.success_message,
            "redirect_url": self.redirect_url,
            "edit_link": self.edit_link,
        }

    @property
    def protected(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields if f.protect)

    def override(self) -> Override:
        """The duplicate policy in dedupe's terms (it never weakens an enforced rule)."""
        return policy_override(self.policy, self.protected)


@dataclass(frozen=True)
class Placed:
    """A form field with the record type's field it reads (types may change under forms)."""

    spec: FormField
    field: FieldDef

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def is_file(self) -> bool:
        return self.field.type.name == FILE_FIELD_TYPE

    @property
    def max_files(self) -> int:
        return self.spec.max_files or 1


#: Field types a first form leaves out unless the type requires them: a choice (Status,
#: Stage, Priority) usually records the team's view of the customer, not the customer's
#: answer. The builder can still show any of them.
TEAM_VIEW_TYPES = frozenset({"single_choice", "multiple_choice"})


def default_config(rt: RecordTypeDef) -> dict[str, Any]:
    """A first form for ``rt``: the fields a stranger should fill, in the type's order (see
    ``TEAM_VIEW_TYPES``), so a new form never publishes the team's own fields."""
    fields = [
        FormField(f.key, f.name, required=f.required, **_file_defaults(f))
        for f in rt.fields
        if f.type.name in PUBLIC_TYPES and (f.required or f.type.name not in TEAM_VIEW_TYPES)
    ]
    return FormConfig(tuple(fields)).public()


def _file_defaults(f: FieldDef) -> dict[str, Any]:
    return {"max_files": 1, "kinds": "any"} if f.type.name == FILE_FIELD_TYPE else {}


def load_config(raw: Any) -> FormConfig:
    """A stored config, trusting its shape (:func:`clean_config` checked it on save)."""
    raw = raw if isinstance(raw, Mapping) else {}
    fields = []
    for item in raw.get("fields") or []:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            known = {k: item[k] for k in FormField.__dataclass_fields__ if k in item}
            fields.append(FormField(**{"label": item["key"], **known}))
    policy = raw.get("policy") if raw.get("policy") in POLICIES else DEFAULT_POLICY
    return FormConfig(
        fields=tuple(fields),
        policy=str(policy),
        intro=str(raw.get("intro") or ""),
        success_message=str(raw.get("success_message") or DEFAULT_SUCCESS),
        redirect_url=str(raw.get("redirect_url") or ""),
        edit_link=bool(raw.get("edit_link")),
    )


def placed(config: FormConfig, rt: RecordTypeDef) -> list[Placed]:
    """The form's fields that the type still has, in the form's order; a field whose type
    changed to one strangers may not fill stays only as a hidden fixed value."""
    found = []
    for spec in config.fields:
        f = rt.field_by_key(spec.key)
        if f is None:
            continue
        if f.type.name not in PUBLIC_TYPES and not (spec.hidden and spec.value is not None):
            continue
        found.append(Placed(spec, f))
    return found


def shown(config: FormConfig, rt: RecordTypeDef) -> list[Placed]:
    """The fields a submitter sees and fills in."""
    return [p for p in placed(config, rt) if not p.spec.hidden]


def redirect_allowed(url: str, hosts: frozenset[str]) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return (
        parts.scheme in {"http", "https"}
        and host in hosts
        and not parts.username
        and not parts.password
    )


# ---- checking a config on save ---------------------------------------------------------


def clean_config(rt: RecordTypeDef, raw: Any, redirect_hosts: frozenset[str]) -> dict[str, Any]:
    """Validate a config for ``rt``; every problem is reported at once, keyed by its path
    (``fields.email.value``, ``redirect_url``...). Returns the normalised config."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed.single("config", "must be an object")
    errors: dict[str, str] = {}
    fields = _clean_fields(rt, raw.get("fields"), errors)
    policy = raw.get("policy", DEFAULT_POLICY)
    if policy not in POLICIES:
        errors["policy"] = "must be one of " + ", ".join(POLICIES)
    texts = {key: _text(raw.get(key), key, errors) for key in ("intro", "success_message")}
    redirect = _text(raw.get("redirect_url"), "redirect_url", errors)
    if redirect and not redirect_allowed(redirect, redirect_hosts):
        errors["redirect_url"] = _redirect_reason(redirect_hosts)
    if errors:
        message = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5])
        raise ValidationFailed(message, fields=errors)
    return FormConfig(
        fields=tuple(fields),
        policy=str(policy),
        intro=texts["intro"],
        success_message=texts["success_message"] or DEFAULT_SUCCESS,
        redirect_url=redirect,
        edit_link=bool(raw.get("edit_link")),
    ).public()


def _redirect_reason(hosts: frozenset[str]) -> str:
    if not hosts:
        return (
            "redirects are off on this server (WORKSPACE_FORM_REDIRECT_HOSTS is empty); "
            "use a success message"
        )
    return "must be an http(s) address on " + ", ".join(sorted(hosts))


def _clean_fields(rt: RecordTypeDef, raw: Any, errors: dict[str, str]) -> list[FormField]:
    if not isinstance(raw, list):
        errors["fields"] = "must be a list of fields"
        return []
    cleaned: list[FormField] = []
    for item in raw:
        key = item.get("key") if isinstance(item, Mapping) else None
        f = rt.field_by_key(key) if isinstance(key, str) else None
        if f is None or not isinstance(item, Mapping):
            errors[f"fields.{key}"] = "is not a field of this record type"
        elif any(c.key == f.key for c in cleaned):
            errors[f"fields.{key}"] = "is on the form twice"
        else:
            spec = _clean_field(f, item, errors)
            if spec is not None:
                cleaned.append(spec)
    _check_coverage(rt, cleaned, errors)
    return cleaned


def _clean_field(f: FieldDef, item: Mapping[str, Any], errors: dict[str, str]) -> FormField | None:
    at = f"fields.{f.key}"
    if f.type.name == FILE_FIELD_TYPE:
        return _clean_file_field(f, item, errors)
    before = len(errors)
    label = _text(item.get("label"), "label", errors, at) or f.name
    help_text = _text(item.get("help"), "help", errors, at)
    prefill = _text(item.get("prefill"), "prefill", errors, at)
    if prefill and not PARAM.match(prefill):
        errors[f"{at}.prefill"] = "use letters, digits, _ . or - (at most 64)"
    hidden = bool(item.get("hidden"))
    value = item.get("value")
    value = None if value in ("", [], None) else value
    if value is not None and not hidden:
        errors[f"{at}.value"] = "a fixed value needs a hidden field"
    elif value is not None:
        try:
            f.type.parse(f, value, ValueContext())
        except FieldError as exc:
            errors[f"{at}.value"] = str(exc)
    if hidden and value is None and not prefill:
        errors[f"{at}.hidden"] = "a hidden field needs a prefill parameter or a fixed value"
    if f.type.name not in PUBLIC_TYPES and not (hidden and value is not None):
        errors[at] = f"{f.type.label} fields can only be set as a hidden fixed value"
    if len(errors) > before:
        return None
    return FormField(
        key=f.key,
        label=label,
        help=help_text,
        required=bool(item.get("required")) and not hidden,
        hidden=hidden,
        prefill=prefill,
        value=value,
        protect=bool(item.get("protect")),
    )


def _clean_file_field(
    f: FieldDef, item: Mapping[str, Any], errors: dict[str, str]
) -> FormField | None:
    """A file field is filled in by the submitter or not at all: files cannot come from the
    link or be fixed by the form."""
    at = f"fields.{f.key}"
    before = len(errors)
    label = _text(item.get("label"), "label", errors, at) or f.name
    help_text = _text(item.get("help"), "help", errors, at)
    if item.get("hidden"):
        errors[f"{at}.hidden"] = (
            "a file field cannot be hidden: only the submitter can choose files"
        )
    if item.get("prefill"):
        errors[f"{at}.prefill"] = "a file field cannot be pre-filled from the link"
    if item.get("value") not in (None, "", []):
        errors[f"{at}.value"] = "a file field cannot have a fixed value"
    max_files = item.get("max_files", 1)
    if isinstance(max_files, str) and max_files.strip().isdigit():
        max_files = int(max_files)
    if isinstance(max_files, bool) or not isinstance(max_files, int):
        errors[f"{at}.max_files"] = f"must be a whole number from 1 to {MAX_FILES}"
    elif not 1 <= max_files <= MAX_FILES:
        errors[f"{at}.max_files"] = f"must be from 1 to {MAX_FILES}"
    kinds = item.get("kinds") or "any"
    if kinds not in KINDS:
        errors[f"{at}.kinds"] = "must be one of " + ", ".join(KINDS)
    if len(errors) > before:
        return None
    return FormField(
        key=f.key,
        label=label,
        help=help_text,
        required=bool(item.get("required")),
        protect=bool(item.get("protect")),
        max_files=max_files,
        kinds=kinds,
    )


def _check_coverage(rt: RecordTypeDef, cleaned: list[FormField], errors: dict[str, str]) -> None:
    """A field the type requires must be on the form, or no submission could ever work."""
    on_form = {c.key: c for c in cleaned}
    for f in rt.fields:
        spec = on_form.get(f.key)
        if f.required and spec is None:
            errors.setdefault(
                f"fields.{f.key}", f"{f.name} is required by the record type: add it to the form"
            )
        elif f.required and spec is not None and not spec.hidden:
            on_form[f.key] = FormField(**{**spec.public(), "required": True})
    cleaned[:] = list(on_form.values())
    if not any(not c.hidden for c in cleaned) and "fields" not in errors:
        errors["fields"] = "show at least one field"


def _text(value: Any, name: str, errors: dict[str, str], at: str | None = None) -> str:
    path = f"{at}.{name}" if at else name
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[path] = "must be text"
        return ""
    text = value.strip()
    if len(text) > LIMITS.get(name, 200):
        errors[path] = f"must be at most {LIMITS.get(name, 200)} characters"
    return text
