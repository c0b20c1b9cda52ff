"""Public forms: the config checked against the record type, every duplicate policy against an
email rule, the checks on a post (honeypot, rate limit, size, one-time token), edit links,
and that every post is stored with its outcome. Service calls and the public HTTP pages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import update

from tests.helpers import Api, field, make_type, records_path
from tests.web import csrf
from workspace import activity
from workspace import models as m
from workspace.access import workspaces
from workspace.boot import build_runtime
from workspace.db import transaction
from workspace.errors import ValidationFailed
from workspace.forms import edits, forms, intake, tokens
from workspace.forms import hooks as form_hooks
from workspace.forms import submissions as form_submissions
from workspace.jobs.worker import run_until_idle
from workspace.principal import Principal
from workspace.web.fields import field_value

TOKEN = re.compile(r'name="_form_token" value="([^"]+)"')
#: Words that would tell a stranger whether a customer is on file.
PHONE = "+442079460958"
ENUMERATION = re.compile(r"already|exist|on file|duplicate|match", re.IGNORECASE)


@pytest.fixture
def shop(api: Api, ws: int, runtime: Any, access: Any) -> dict[str, Any]:
    """A Customer type with an email rule that only warns (a form brings its own policy),
    a record on file, and a form showing name, email, phone and city."""
    rt, made = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text", required=True),
        field("Email", "email"),
        field("Phone", "phone"),
        field("City", "text"),
        field("Source", "text"),
        field("Newsletter", "checkbox"),
        field("Owner", "user"),
        rows=[{"name": "Ada Lovelace", "email": "ada@example.org", "city": "London"}],
    )
    api.post(
        f"/workspaces/{ws}/types/{rt['id']}/dedupe-rules",
        {"rule": "email", "fields": ["email"], "on_create": "warn", "on_update": "warn"},
        expect=201,
    )
    form = forms.create_form(runtime, access, rt["id"], "Contact us")
    shown = [
        {"key": "name", "label": "Your name"},
        {"key": "email", "label": "Email", "help": "We answer here", "required": True},
        {"key": "phone", "label": "Phone"},
        {"key": "city", "label": "City"},
    ]
    form = configure(runtime, access, form, fields=shown)
    return {
        "rt": rt,
        "ws": ws,
        "path": records_path(ws, rt),
        "ada": made[0],
        "form": form,
        "slug": form["slug"],
    }


def configure(runtime: Any, access: Any, form: dict[str, Any], **config: Any) -> dict[str, Any]:
    merged = {**forms.get_form(runtime, access, form["id"])["config"], **config}
    return forms.update_form(runtime, access, form["id"], {"config": merged})


def send(
    runtime: Any,
    slug: str,
    values: dict[str, Any],
    *,
    address: str = "198.51.100.7",
    token: str | None = None,
) -> intake.Answer:
    """One post as a browser sends it, through the service."""
    form = forms.by_slug(runtime, slug)
    raw = {"_form_token": token or tokens.issue(runtime, form.id), **values}
    return intake.submit(runtime, slug, raw, address, field_value)


def stored(runtime: Any, access: Any, form: dict[str, Any]) -> list[dict[str, Any]]:
    """The form's submissions, oldest first."""
    items = form_submissions.list_submissions(runtime, access, form["id"], limit=200)["items"]
    return list(reversed(items))


def customers(api: Api, shop: dict[str, Any]) -> list[dict[str, Any]]:
    items = api.get(shop["path"], limit=200, sort="id")["items"]
    return [r["fields"] for r in items]


def open_page(client: Any, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    found = TOKEN.search(response.text)
    assert found is not None, response.text
    return found.group(1)


def post_page(client: Any, slug: str, values: dict[str, Any], token: str | None = None) -> Any:
    token = token or open_page(client, f"/f/{slug}")
    data = {"_csrf_token": csrf(client), "_form_token": token, **values}
    return client.post(f"/f/{slug}", data=data, follow_redirects=False)


# ---- the config ------------------------------------------------------------------------


def test_a_new_form_shows_every_field_a_stranger_may_fill(runtime, access, api, ws):
    rt, _ = make_type(api, ws, "Lead", field("Name", "text", required=True), field("Owner", "user"))
    form = forms.create_form(runtime, access, rt["id"])
    assert form["name"] == "Lead form" and form["is_open"]
    assert [f["key"] for f in form["config"]["fields"]] == ["name"]
    assert form["config"]["fields"][0]["required"] is True
    assert len(form["slug"]) >= 20 and form["path"] == f"/f/{form['slug']}"


@pytest.mark.parametrize(
    ("fields", "where", "reason"),
    [
        ([{"key": "nope"}], "fields.nope", "is not a field of this record type"),
        ([{"key": "name"}, {"key": "name"}], "fields.name", "is on the form twice"),
        (
            [{"key": "name"}, {"key": "source", "hidden": True}],
            "fields.source.hidden",
            "a hidden field needs a prefill parameter or a fixed value",
        ),
        (
            [{"key": "name"}, {"key": "city", "value": "Oslo"}],
            "fields.city.value",
            "a fixed value needs a hidden field",
        ),
        (
            [{"key": "name"}, {"key": "owner"}],
            "fields.owner",
            "User fields can only be set as a hidden fixed value",
        ),
        (
            [{"key": "name"}, {"key": "city", "prefill": "a b"}],
            "fields.city.prefill",
            "use letters, digits, _ . or - (at most 64)",
        ),
        ([{"key": "email"}], "fields.name", "Name is required by the record type"),
        ([{"key": "name", "hidden": True, "value": "X"}], "fields", "show at least one field"),
        (
            [{"key": "name"}, {"key": "phone", "hidden": True, "value": "not a phone"}],
            "fields.phone.value",
            "",
        ),
    ],
)
def test_a_config_that_cannot_work_is_refused_field_by_field(
    runtime, access, shop, fields, where, reason
):
    with pytest.raises(ValidationFailed) as caught:
        configure(runtime, access, shop["form"], fields=fields)
    assert where in caught.value.fields, caught.value.fields
    assert caught.value.fields[where].startswith(reason)


def test_redirects_go_only_to_allow_listed_hosts(runtime, access, shop, settings):
    with pytest.raises(ValidationFailed) as caught:
        configure(runtime, access, shop["form"], redirect_url="https://example.com/thanks")
    assert "WORKSPACE_FORM_REDIRECT_HOSTS" in caught.value.fields["redirect_url"]

    allowing = build_runtime(dataclasses.replace(settings, form_redirect_hosts="Example.com"))
    try:
        for bad in (
            "https://evil.example.net/",
            "javascript:alert(1)",
            "https://a@example.com.evil/",
        ):
            with pytest.raises(ValidationFailed):
                configure(allowing, access, shop["form"], redirect_url=bad)
        configure(allowing, access, shop["form"], redirect_url="https://example.com/thanks")
        answer = send(allowing, shop["slug"], {"name": "Bo", "email": "bo@example.org"})
        assert answer.redirect == "https://example.com/thanks"
    finally:
        allowing.close()
    # The host left the allow-list since: the form shows its message instead.
    answer = send(runtime, shop["slug"], {"name": "Cy", "email": "cy@example.org"})
    assert answer.view == "done" and answer.redirect is None


# ---- duplicate policies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "outcome", "on_file"),
    [
        ("create", "created", [("Ada Lovelace", "London", None), ("Augusta", "Paris", PHONE)]),
        ("review", "created", [("Ada Lovelace", "London", None), ("Augusta", "Paris", PHONE)]),
        ("update", "updated", [("Augusta", "Paris", PHONE)]),
        ("fill_empty", "updated", [("Ada Lovelace", "London", PHONE)]),
        ("refuse", "refused", [("Ada Lovelace", "London", None)]),
    ],
)
def test_each_duplicate_policy_against_an_email_rule(
    runtime, access, api, shop, policy, outcome, on_file
):
    configure(runtime, access, shop["form"], policy=policy)
    answer = send(
        runtime,
        shop["slug"],
        {
            "name": "Augusta",
            "email": " ADA@Example.org ",
            "phone": "+44 20 7946 0958",
            "city": "Paris",
        },
    )
    assert answer.outcome == outcome
    assert [(c["name"], c["city"], c["phone"]) for c in customers(api, shop)] == on_file
    [sub] = stored(runtime, access, shop["form"])
    assert sub["outcome"] == outcome
    if outcome == "refused":
        assert answer.view == "refused" and not ENUMERATION.search(answer.message)
        assert sub["record"] is None and "matches record" in sub["reason"]
    else:
        assert answer.view == "done" and sub["record"] is not None
    if policy == "review":
        pairs = api.get(f"/workspaces/{shop['ws']}/types/{shop['rt']['id']}/duplicates")
        assert len(pairs["items"]) == 1
        assert "queued for review" in sub["reason"]


def test_never_overwritten_fields_keep_their_value_on_update(runtime, access, api, shop):
    config = forms.get_form(runtime, access, shop["form"]["id"])["config"]
    fields = [{**f, "protect": f["key"] in {"name", "city"}} for f in config["fields"]]
    configure(runtime, access, shop["form"], policy="update", fields=fields)
    send(
        runtime,
        shop["slug"],
        {
            "name": "Mallory",
            "email": "ada@example.org",
            "phone": "+44 20 7946 0958",
            "city": "Nowhere",
        },
    )
    [ada] = customers(api, shop)
    assert (ada["name"], ada["city"], ada["phone"]) == ("Ada Lovelace", "London", "+442079460958")


def test_a_policy_never_weakens_a_rule_that_refuses_duplicates(runtime, access, api, shop):
    rules = f"/workspaces/{shop['ws']}/types/{shop['rt']['id']}/dedupe-rules"
    [rule] = api.get(rules)
    api.patch(f"{rules}/{rule['id']}", {"on_create": "block"}, expect=200)
    configure(runtime, access, shop["form"], policy="create")
    answer = send(runtime, shop["slug"], {"name": "Eve", "email": "ADA@example.org"})
    assert answer.outcome == "refused" and answer.view == "refused"
    assert len(customers(api, shop)) == 1


# ---- what a post may carry -------------------------------------------------------------


def test_hidden_fields_prefill_from_the_query_string_and_fixed_values_cannot_be_posted(
    runtime, access, api, shop, client
):
    config = forms.get_form(runtime, access, shop["form"]["id"])["config"]
    fields = [
        *config["fields"],
        {"key": "source", "hidden": True, "prefill": "utm_source"},
        {"key": "owner", "hidden": True, "value": access.user_id},
    ]
    configure(runtime, access, shop["form"], fields=fields)
    page = client.get(f"/f/{shop['slug']}?utm_source=newsletter&owner=99&email=x@y.org")
    assert '<input type="hidden" name="source" value="newsletter">' in page.text
    assert 'name="owner"' not in page.text, page.text
    token = TOKEN.search(page.text).group(1)  # type: ignore[union-attr]
    response = post_page(
        client,
        shop["slug"],
        {"name": "Bo", "email": "bo@example.org", "source": "newsletter", "owner": "99"},
        token,
    )
    assert response.status_code == 200, response.text
    bo = customers(api, shop)[-1]
    assert bo["source"] == "newsletter" and bo["owner"] == access.user_id


def test_only_the_forms_fields_are_written(runtime, access, api, shop):
    answer = send(
        runtime,
        shop["slug"],
        {
            "name": "Bo",
            "email": "bo@example.org",
            "source": "forged",
            "newsletter": "true",
            "id": "1",
        },
    )
    assert answer.outcome == "created"
    bo = customers(api, shop)[-1]
    assert bo["source"] is None and bo["newsletter"] is False


def test_validation_errors_are_shown_with_what_was_typed_and_nothing_is_written(
    runtime, access, api, shop, client
):
    response = post_page(
        client, shop["slug"], {"name": "<b>Bo</b>", "email": "not-an-email", "city": "Oslo"}
    )
    assert response.status_code == 422
    text = response.text
    assert "Please check the fields marked below." in text
    assert "Email is not a valid email address" in text or "Email " in text
    assert 'value="&lt;b&gt;Bo&lt;/b&gt;"' in text and 'value="Oslo"' in text
    assert 'aria-invalid="true"' in text
    missing = post_page(client, shop["slug"], {"name": "Bo"})
    assert missing.status_code == 422 and "Please fill this in." in missing.text
    assert len(customers(api, shop)) == 1
    assert [s["outcome"] for s in stored(runtime, access, shop["form"])] == ["rejected"] * 2


def test_a_filled_honeypot_is_stored_as_spam_and_answered_like_a_success(
    runtime, access, api, shop
):
    answer = send(
        runtime,
        shop["slug"],
        {"name": "Bot", "email": "bot@example.org", intake.HONEYPOT: "http://spam"},
    )
    assert (
        answer.view == "done"
        and answer.message
        == forms.get_form(runtime, access, shop["form"]["id"])["config"]["success_message"]
    )
    assert len(customers(api, shop)) == 1
    [sub] = stored(runtime, access, shop["form"])
    assert sub["outcome"] == "spam" and sub["payload"]["name"] == "Bot"


def test_the_rate_limit_counts_stored_posts_per_address(runtime, access, api, shop, settings):
    limited = build_runtime(dataclasses.replace(settings, form_rate_limit=2))
    try:
        outcomes = [
            send(limited, shop["slug"], {"name": f"P{i}", "email": f"p{i}@example.org"}).outcome
            for i in range(3)
        ]
        other = send(
            limited, shop["slug"], {"name": "Q", "email": "q@example.org"}, address="203.0.113.5"
        )
    finally:
        limited.close()
    assert outcomes == ["created", "created", "rejected"]
    assert other.outcome == "created"
    subs = stored(runtime, access, shop["form"])
    assert subs[2]["reason"].startswith("rate limit")
    assert len({s["id"] for s in subs}) == 4


def test_an_oversized_post_is_refused_and_stored_cut_short(runtime, access, api, shop):
    answer = send(runtime, shop["slug"], {"name": "x" * 20_000, "email": "big@example.org"})
    assert answer.status_code == 413 and answer.outcome == "rejected"
    [sub] = stored(runtime, access, shop["form"])
    assert len(sub["payload"]["name"]) == form_submissions.STORED_CHARS
    assert sub["payload"]["_truncated"] is True
    assert len(customers(api, shop)) == 1


def test_a_replayed_or_double_clicked_post_counts_once_and_shows_the_same_result(
    runtime, access, api, shop, client
):
    configure(runtime, access, shop["form"], edit_link=True)
    token = open_page(client, f"/f/{shop['slug']}")
    values = {"name": "Bo", "email": "bo@example.org"}
    first = post_page(client, shop["slug"], values, token)
    again = post_page(client, shop["slug"], values, token)
    assert first.status_code == again.status_code == 200
    link = re.search(r'href="(/f/[^"]+/edit/[^"]+)"', first.text)
    assert link is not None and link.group(1) in again.text
    assert len(customers(api, shop)) == 2
    subs = stored(runtime, access, shop["form"])
    assert [s["outcome"] for s in subs] == ["created", "replay"]
    assert subs[1]["record"] == subs[0]["record"]


def test_a_post_with_a_forged_or_stale_token_is_asked_again(runtime, access, api, shop):
    form = forms.by_slug(runtime, shop["slug"])
    old = tokens.issue(runtime, form.id, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    for token in ("forged.token.x", old):
        answer = send(runtime, shop["slug"], {"name": "Bo", "email": "bo@example.org"}, token=token)
        assert answer.view == "form" and answer.page is not None
        assert answer.page.values["name"] == "Bo" and answer.page.token != token
    assert len(customers(api, shop)) == 1
    assert [s["outcome"] for s in stored(runtime, access, shop["form"])] == ["rejected"] * 2


def test_a_closed_form_says_so_and_still_stores_what_is_posted(runtime, access, api, shop, client):
    token = open_page(client, f"/f/{shop['slug']}")
    forms.update_form(runtime, access, shop["form"]["id"], {"is_open": False})
    page = client.get(f"/f/{shop['slug']}")
    assert page.status_code == 200 and "This form is closed" in page.text
    assert "_form_token" not in page.text
    response = post_page(client, shop["slug"], {"name": "Bo", "email": "bo@example.org"}, token)
    assert response.status_code == 403 and "closed" in response.text
    assert [s["outcome"] for s in stored(runtime, access, shop["form"])] == ["rejected"]
    assert len(customers(api, shop)) == 1


def test_unknown_and_deleted_forms_are_not_found(runtime, access, shop, client):
    assert client.get("/f/no-such-form").status_code == 404
    forms.delete_form(runtime, access, shop["form"]["id"])
    assert client.get(f"/f/{shop['slug']}").status_code == 404


# ---- what the submitter is told ---------------------------------------------------------


def test_a_refused_duplicate_gets_a_neutral_page_without_anyones_data(
    runtime, access, api, shop, client
):
    configure(runtime, access, shop["form"], policy="refuse")
    response = post_page(client, shop["slug"], {"name": "Eve", "email": "ADA@example.org"})
    assert response.status_code == 200
    text = response.text
    assert intake.REFUSED in text
    assert not ENUMERATION.search(text.replace(intake.REFUSED, ""))
    for secret in ("Ada Lovelace", "ada@example.org", "London", f"/r/{shop['ada']['id']}"):
        assert secret not in text
    created = post_page(client, shop["slug"], {"name": "Bo", "email": "bo@example.org"})
    assert not re.search(r"record \d+|/r/\d+", created.text)


def test_the_activity_names_the_form_with_old_and_new_values(runtime, access, api, shop):
    configure(runtime, access, shop["form"], policy="update")
    send(runtime, shop["slug"], {"name": "Augusta", "email": "ada@example.org", "city": "Paris"})
    history = activity.for_record(runtime, access, shop["rt"]["id"], shop["ada"]["id"])["items"]
    latest = history[0]
    assert latest["source"] == "form"
    assert latest["source_ref"] == forms.source_ref(shop["form"]["id"])
    assert {"field": "city", "old": "London", "new": "Paris"} in latest["changes"]
    assert forms.names(runtime, access, [latest["source_ref"]]) == {
        latest["source_ref"]: "Contact us"
    }


def test_a_form_whose_maker_left_stops_taking_posts_and_an_admin_takes_it_over(
    runtime, access, api, shop, make_user, client
):
    other, _ = make_user()
    members = f"/workspaces/{shop['ws']}/members"
    api.post(members, {"email": other["email"], "role": "admin"}, expect=201)
    other_acc = workspaces.access(runtime, Principal(other["id"], other["email"]), shop["ws"])
    form = forms.create_form(runtime, other_acc, shop["rt"]["id"], "Made by the other admin")
    assert (
        send(runtime, form["slug"], {"name": "Al", "email": "al@example.org"}).outcome == "created"
    )
    api.delete(f"{members}/{other['id']}", expect=204)
    answer = send(runtime, form["slug"], {"name": "Bo", "email": "bo@example.org"})
    assert answer.view == "unavailable" and answer.outcome == "rejected"
    assert client.get(f"/f/{form['slug']}").status_code == 503
    assert not forms.writer_ok(runtime, access, form)
    taken = forms.update_form(runtime, access, form["id"], {"name": "Contact us too"})
    assert taken["created_by"] == access.user_id
    assert (
        send(runtime, form["slug"], {"name": "Bo", "email": "bo@example.org"}).outcome == "created"
    )


# ---- self-service edit links -----------------------------------------------------------


def test_an_edit_link_lets_the_customer_change_the_forms_fields_only(
    runtime, access, api, shop, client
):
    config = forms.get_form(runtime, access, shop["form"]["id"])["config"]
    fields = [{**f, "protect": f["key"] == "email"} for f in config["fields"]]
    configure(runtime, access, shop["form"], edit_link=True, fields=fields)
    created = post_page(
        client, shop["slug"], {"name": "Bo", "email": "bo@example.org", "city": "Oslo"}
    )
    link = re.search(r'href="(/f/[^"]+/edit/[^"]+)"', created.text).group(1)  # type: ignore[union-attr]
    page = client.get(link)
    assert page.status_code == 200 and 'value="Oslo"' in page.text
    assert 'name="email"' not in page.text  # never overwritten from this form
    saved = client.post(
        link,
        data={
            "_csrf_token": csrf(client),
            "name": "Bo Berg",
            "city": "",
            "email": "x@evil.org",
            "source": "x",
        },
    )
    assert saved.status_code == 200 and edits.SAVED in saved.text
    bo = customers(api, shop)[-1]
    assert (bo["name"], bo["city"], bo["email"], bo["source"]) == (
        "Bo Berg",
        None,
        "bo@example.org",
        None,
    )
    subs = stored(runtime, access, shop["form"])
    assert [(s["kind"], s["outcome"]) for s in subs] == [("submit", "created"), ("edit", "updated")]
    history = activity.for_record(runtime, access, shop["rt"]["id"], subs[0]["record"])["items"]
    assert history[0]["source"] == "form"
    assert {"field": "name", "old": "Bo", "new": "Bo Berg"} in history[0]["changes"]
    invalid = client.post(link, data={"_csrf_token": csrf(client), "name": ""})
    assert invalid.status_code == 422 and "Please fill this in." in invalid.text


def test_expired_tampered_and_foreign_edit_links_do_not_work(runtime, access, api, shop, client):
    answer = send(runtime, shop["slug"], {"name": "Bo", "email": "bo@example.org"})
    [sub] = stored(runtime, access, shop["form"])
    ref = form_submissions.get(runtime, sub["id"])["ref"]
    form_id = shop["form"]["id"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    expired = tokens.edit_token(runtime, form_id, ref, now=past)
    good = tokens.edit_token(runtime, form_id, ref)
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    other = forms.create_form(runtime, access, shop["rt"]["id"], "Other")
    foreign = tokens.edit_token(runtime, other["id"], ref)
    base = f"/f/{shop['slug']}/edit/"
    assert client.get(base + good).status_code == 200
    assert client.get(base + expired).status_code == 410
    assert "expired" in client.get(base + expired).text
    for bad in (tampered, foreign, "nonsense", "ä.ö.ü"):
        assert client.get(base + bad).status_code == 404
    posted = client.post(base + tampered, data={"_csrf_token": csrf(client), "name": "Mallory"})
    assert posted.status_code == 404
    assert customers(api, shop)[-1]["name"] == "Bo"
    assert stored(runtime, access, shop["form"])[-1]["outcome"] == "rejected"
    assert answer.edit_token is None  # the form does not hand out links unless asked


def test_no_edit_link_for_a_post_merged_into_someone_elses_record(runtime, access, shop):
    configure(runtime, access, shop["form"], policy="fill_empty", edit_link=True)
    merged = send(runtime, shop["slug"], {"name": "Eve", "email": "ada@example.org"})
    assert merged.outcome == "updated" and merged.edit_token is None
    new = send(runtime, shop["slug"], {"name": "Bo", "email": "bo@example.org"})
    assert new.outcome == "created" and new.edit_token


def test_the_team_can_copy_an_edit_link_that_follows_merges(runtime, access, api, shop, client):
    send(runtime, shop["slug"], {"name": "Bo", "email": "bo@example.org", "city": "Oslo"})
    [sub] = stored(runtime, access, shop["form"])
    link = edits.link_for(runtime, access, shop["form"]["id"], sub["id"])
    api.post(
        f"/workspaces/{shop['ws']}/types/{shop['rt']['id']}/merges",
        {"survivor": shop["ada"]["id"], "loser": sub["record"]},
        expect=201,
    )
    page = client.get(link)
    assert page.status_code == 200 and 'value="London"' in page.text
    api.delete(f"{shop['path']}/{shop['ada']['id']}", expect=204)
    assert client.get(link).status_code == 410


def test_a_double_click_racing_the_first_post_still_counts_once(runtime, access, api, shop):
    """Two posts of one rendered form at the same moment: the token's claim decides."""
    form = forms.by_slug(runtime, shop["slug"])
    token = tokens.issue(runtime, form.id)
    values = {"name": "Bo", "email": "bo@example.org"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda _: send(runtime, shop["slug"], values, token=token), range(2))
        )
    assert sorted(a.outcome for a in answers) == ["created", "replay"]
    assert all(a.view == "done" for a in answers)
    assert len(customers(api, shop)) == 2


def test_a_post_is_on_file_before_anything_can_go_wrong(
    runtime, access, api, shop, client, monkeypatch
):
    """Nothing is lost: a failure while writing leaves the post stored as received."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(intake.records, "create", broken)
    response = post_page(client, shop["slug"], {"name": "Bo", "email": "bo@example.org"})
    assert response.status_code == 500 and "Traceback" not in response.text
    [sub] = stored(runtime, access, shop["form"])
    assert sub["outcome"] == "received" and sub["payload"]["email"] == "bo@example.org"
    assert "_csrf_token" not in sub["payload"] and "_form_token" not in sub["payload"]


def test_a_post_nobody_finishes_is_marked_failed_by_the_workers_periodic_pass(
    runtime, access, shop
):
    form = forms.by_slug(runtime, shop["slug"])
    stale, _ = form_submissions.store_received(runtime, form.id, "submit", "x", {"name": "Bo"})
    fresh, _ = form_submissions.store_received(runtime, form.id, "submit", "x", {"name": "Cy"})
    long_ago = dt.datetime.now(dt.UTC) - form_submissions.STALE_AFTER - dt.timedelta(minutes=1)
    with transaction(runtime.control, write=True) as conn:
        S = m.form_submissions
        conn.execute(update(S).where(S.c.id == stale).values(received_at=long_ago))
    # The pass is the job queue's periodic task: whichever worker's turn it is runs it.
    run_until_idle(runtime, now=dt.datetime.now(dt.UTC) + form_hooks.EVERY)
    outcomes = {s["id"]: (s["outcome"], s["reason"]) for s in stored(runtime, access, shop["form"])}
    assert outcomes[stale] == ("failed", form_submissions.INTERRUPTED)
    assert outcomes[fresh] == ("received", None)  # it may still be being taken
