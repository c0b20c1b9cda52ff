"""The duplicates screens without a browser: rules, scan, review queue, merge and undo as plain
form posts; who may do what; CSRF; markup in values stays inert; htmx gets fragments."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from workspace.access import users, workspaces
from workspace.dedupe import queue as duplicates
from workspace.dedupe import rules as dedupe_rules
from workspace.principal import Principal
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.types import record_types

PASSWORD = "correct horse battery staple"
SCRIPT = '<script>alert("x")</script>'
HX = {"hx-request": "true"}


def page_user(runtime: Any, name: str) -> dict[str, Any]:
    email = f"dup{uuid.uuid4().hex[:10]}@example.com"
    return users.create_user(runtime, email, name=name, password=PASSWORD)


def log_in(client: Any, user: dict[str, Any]) -> None:
    client.cookies.clear()
    client.get("/login")
    response = client.post(
        "/login",
        data={"email": user["email"], "password": PASSWORD, "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf(client: Any) -> str:
    return str(client.cookies.get("ws_csrf"))


class Shop:
    """An owner's workspace with a Customer type; helpers to add records, rules and pairs."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.owner = page_user(runtime, "Olivia Owner")
        self.principal = Principal(self.owner["id"], self.owner["email"])
        self.ws = workspaces.create(runtime, self.principal, "Shop")["id"]
        self.acc = workspaces.access(runtime, self.principal, self.ws)
        spec = {
            "name": "Customer",
            "fields": [
                {"name": "Name", "type": "text"},
                {"name": "Email", "type": "email"},
                {"name": "Phone", "type": "phone"},
                {"name": "City", "type": "text"},
                {
                    "name": "Tags",
                    "type": "multiple_choice",
                    "config": {"choices": ["vip", "lead"]},
                },
                {
                    "name": "Unsubscribed",
                    "type": "checkbox",
                    "config": {"survivorship": "most_restrictive"},
                },
            ],
        }
        self.type_id = int(record_types.create_type(runtime, self.acc, spec)["id"])
        self.url = f"/w/{self.ws}/t/{self.type_id}/duplicates"

    @property
    def rt(self) -> Any:
        return open_type(self.runtime, self.principal, self.ws, self.type_id)[1]

    def add(self, **fields: Any) -> dict[str, Any]:
        return records.create(self.runtime, self.acc, self.rt, fields)

    def get(self, record_id: int) -> dict[str, Any]:
        return records.get(self.runtime, self.acc, self.rt, record_id)

    def rule(self, **spec: Any) -> dict[str, Any]:
        body = {"rule": "email", "fields": ["email"], "on_create": "warn", **spec}
        return dedupe_rules.add_rule(self.runtime, self.acc, self.type_id, body)

    def rules(self) -> list[dict[str, Any]]:
        return dedupe_rules.list_rules(self.runtime, self.acc, self.type_id)

    def pairs(self, status: str = "open") -> list[dict[str, Any]]:
        return duplicates.list_pairs(self.runtime, self.acc, self.rt, status=status)["items"]

    def twins(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two records of one customer, queued by an email rule in warn mode."""
        self.rule()
        a = self.add(
            name="Ada Lovelace", email="ada.lovelace@gmail.com", city="London", tags=["vip"]
        )
        b = self.add(
            name="A. Lovelace",
            email="AdaLovelace@gmail.com",
            phone="+44 20 7946 0958",
            city="Paris",
            tags=["lead"],
            unsubscribed=True,
        )
        return a, b

    def member(self, role: str, name: str) -> dict[str, Any]:
        user = page_user(self.runtime, name)
        workspaces.add_member(self.runtime, self.acc, user["email"], role)
        return user


@pytest.fixture
def shop(runtime: Any) -> Shop:
    return Shop(runtime)


def post(client: Any, url: str, headers: dict[str, str] | None = None, **data: Any) -> Any:
    return client.post(
        url,
        data={**data, "_csrf_token": csrf(client)},
        headers=headers or {},
        follow_redirects=False,
    )


# ---- the screen and its rules ------------------------------------------------------------


def test_a_first_visit_says_what_to_do_next(client, shop):
    log_in(client, shop.owner)
    page = client.get(shop.url)
    assert page.status_code == 200
    assert "Duplicates in Customer" in page.text
    assert "No rules yet." in page.text
    assert "Nothing to review yet." in page.text
    assert 'action="' + shop.url + '/rules"' in page.text  # the add form, for an admin
    assert '<option value="email" selected>Email address</option>' in page.text
    slot = page.text.split('name="slot0"')[1].split("</select>")[0]
    assert '<option value="email" selected>Email</option>' in slot
    table = client.get(f"/w/{shop.ws}/t/{shop.type_id}")
    assert f'href="/w/{shop.ws}/t/{shop.type_id}/duplicates"' in table.text


def test_an_admin_adds_changes_and_deletes_rules_with_plain_posts(client, shop):
    log_in(client, shop.owner)
    added = post(
        client, shop.url + "/rules", rule="email", slot0="email", on_create="warn", on_update="off"
    )
    assert added.status_code == 303
    assert added.headers["location"] == shop.url + "?done=rule-added#rules"
    (rule,) = shop.rules()
    assert (rule["fields"], rule["on_create"], rule["on_update"]) == (["email"], "warn", "off")
    assert "The rule was added." in client.get(added.headers["location"]).text

    again = post(client, shop.url + "/rules", rule="email", slot0="email", on_create="block")
    assert again.status_code == 422
    assert re.search(
        r'id="add-fields-error">This rule already applies to these fields\.', again.text
    )
    assert len(shop.rules()) == 1

    changed = post(
        client,
        f"{shop.url}/rules/{rule['id']}",
        on_create="update",
        on_update="block",
        **{"policy.city": "overwrite", "policy.name": "fill_empty"},
    )
    assert changed.status_code == 303
    (rule,) = shop.rules()
    assert (rule["on_create"], rule["on_update"]) == ("update", "block")
    assert rule["merge_policy"] == {"city": "overwrite"}
    page = client.get(shop.url).text
    assert "City: overwrite; other fields: fill in only if empty." in page

    contact = post(
        client,
        shop.url + "/rules",
        rule="contact",
        slot0="name",
        slot1="",
        slot2="phone",
        slot3="",
        on_create="warn",
        on_update="off",
        threshold="90",
    )
    assert contact.status_code == 303
    assert contact.headers["location"] == shop.url + "?done=fuzzy-added#rules"
    fuzzy = next(r for r in shop.rules() if r["rule"] == "contact")
    assert fuzzy["fields"] == ["name", None, "phone"]
    assert fuzzy["threshold"] == 0.9
    bad = post(client, f"{shop.url}/rules/{fuzzy['id']}", on_create="block", threshold="lots")
    assert bad.status_code == 422
    assert "Enter a percentage above 0 and up to 100." in bad.text
    assert 'value="lots"' in bad.text
    blocked = post(client, f"{shop.url}/rules/{fuzzy['id']}", on_create="block", on_update="off")
    assert blocked.status_code == 422
    assert "a fuzzy rule only finds candidates for review" in blocked.text

    deleted = post(client, f"{shop.url}/rules/{fuzzy['id']}/delete")
    assert deleted.status_code == 303
    assert [r["rule"] for r in shop.rules()] == ["email"]


def test_picking_a_rule_works_without_javascript(client, shop):
    log_in(client, shop.owner)
    picked = client.get(shop.url + "/rule-form", params={"rule": "contact"}, follow_redirects=False)
    assert picked.status_code == 303
    assert picked.headers["location"] == shop.url + "?rule=contact#add-rule"
    page = client.get(shop.url, params={"rule": "contact"}).text
    assert '<input type="hidden" name="rule" value="contact">' in page
    assert re.search(r'name="slot3" id="add-slot3"[^>]*>\s*<option value="">— none —', page)
    assert "<noscript><button>Choose</button></noscript>" in page


def test_htmx_rule_changes_answer_with_the_rules_section(client, shop):
    log_in(client, shop.owner)
    form = client.get(shop.url + "/rule-form", params={"rule": "contact"}, headers=HX)
    assert form.status_code == 200
    assert form.text.lstrip().startswith('<details id="add-rule"')
    assert '<option value="">— none —</option>' in form.text
    assert "Company" in form.text

    refused = post(client, shop.url + "/rules", HX, rule="phone", slot0="phone", on_create="nope")
    assert refused.status_code == 422
    assert refused.text.lstrip().startswith('<section id="rules"')
    assert 'id="add-on-create-error">On_create: must be one of' not in refused.text
    assert re.search(r'id="add-on-create-error">Must be one of off, block', refused.text)

    added = post(client, shop.url + "/rules", HX, rule="phone", slot0="phone", on_create="warn")
    assert added.status_code == 200
    assert "The rule was added." in added.text
    assert '<section id="queue" class="dup-section" aria-labelledby="queue-title" hx-swap-oob' in (
        added.text
    )


# ---- who may do what ---------------------------------------------------------------------


def test_a_viewer_reads_the_queue_but_changes_nothing(client, shop):
    a, b = shop.twins()
    viewer = shop.member("viewer", "Vera Viewer")
    log_in(client, viewer)
    page = client.get(shop.url)
    assert page.status_code == 200
    assert "Ada Lovelace" in page.text and "A. Lovelace" in page.text
    assert "Scan now" not in page.text
    assert "Not a duplicate" not in page.text
    assert "Add a rule" not in page.text
    (pair,) = shop.pairs()
    assert post(client, shop.url + "/scan").status_code == 403
    assert post(client, f"{shop.url}/{pair['id']}/decision", decision="skipped").status_code == 403
    assert client.get(f"{shop.url}/{pair['id']}/merge").status_code == 403
    merged = post(client, shop.url + "/merge", survivor=a["id"], loser=b["id"])
    assert merged.status_code == 403
    assert post(client, shop.url + "/rules", rule="phone", slot0="phone").status_code == 403
    assert shop.pairs()[0]["status"] == "open"
    assert shop.get(b["id"])["fields"]["name"] == "A. Lovelace"
    assert len(shop.rules()) == 1


def test_a_member_reviews_and_merges_but_does_not_change_rules(client, shop):
    a, b = shop.twins()
    member = shop.member("member", "Mo Member")
    log_in(client, member)
    page = client.get(shop.url)
    assert "Scan now" in page.text and "Merge…" in page.text
    assert "Add a rule" not in page.text
    assert "Change or delete" not in page.text
    (rule,) = shop.rules()
    assert post(client, shop.url + "/rules", rule="phone", slot0="phone").status_code == 403
    assert post(client, f"{shop.url}/rules/{rule['id']}", on_create="off").status_code == 403
    assert post(client, f"{shop.url}/rules/{rule['id']}/delete").status_code == 403
    assert shop.rules() == [rule]
    assert post(client, shop.url + "/scan").status_code == 303
    merged = post(client, shop.url + "/merge", survivor=a["id"], loser=b["id"])
    assert merged.status_code == 303


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(client, shop):
    a, b = shop.twins()
    (pair,) = shop.pairs()
    log_in(client, shop.owner)
    for url, data in [
        (shop.url + "/scan", {}),
        (f"{shop.url}/{pair['id']}/decision", {"decision": "not_duplicate"}),
        (shop.url + "/rules", {"rule": "phone", "slot0": "phone"}),
        (shop.url + "/merge", {"survivor": a["id"], "loser": b["id"]}),
    ]:
        refused = client.post(url, data=data, follow_redirects=False)
        assert refused.status_code == 403, url
        assert "Traceback" not in refused.text
    assert shop.pairs()[0]["status"] == "open"
    assert len(shop.rules()) == 1
    assert shop.get(b["id"])["id"] == b["id"]


# ---- the queue ---------------------------------------------------------------------------


def test_markup_in_values_renders_inert(client, shop):
    shop.rule()
    a = shop.add(name=SCRIPT, email="x@example.com", city=SCRIPT)
    shop.add(name="Eve " + SCRIPT, email="X@example.com")
    log_in(client, shop.owner)
    (pair,) = shop.pairs()
    merge_page = client.get(f"{shop.url}/{pair['id']}/merge")
    for page in (client.get(shop.url), merge_page):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    done = post(
        client,
        shop.url + "/merge",
        survivor=a["id"],
        loser=pair["b"]["id"],
        **{"value.city": SCRIPT},
    )
    confirmation = client.get(done.headers["location"])
    assert "<script>alert" not in confirmation.text


def test_not_a_duplicate_is_remembered_after_a_rescan(client, shop):
    shop.twins()
    (pair,) = shop.pairs()
    log_in(client, shop.owner)
    decided = post(client, f"{shop.url}/{pair['id']}/decision", decision="not_duplicate")
    assert decided.status_code == 303
    assert decided.headers["location"] == shop.url + "?done=not_duplicate#queue"
    assert "Marked as not a duplicate" in client.get(decided.headers["location"]).text
    scanned = post(client, shop.url + "/scan")
    assert scanned.headers["location"] == shop.url + "?compared=1&queued=0#queue"
    page = client.get(scanned.headers["location"]).text
    assert "Scanned: compared 1 pair of records; no new likely duplicates." in page
    assert "No pairs to review." in page
    listed = client.get(shop.url, params={"status": "not_duplicate"}).text
    assert f'id="pair-{pair["id"]}"' in listed
    assert "Back to the queue" in listed


def test_htmx_decisions_and_scans_swap_only_what_changed(client, shop):
    shop.twins()
    (pair,) = shop.pairs()
    log_in(client, shop.owner)
    skipped = post(client, f"{shop.url}/{pair['id']}/decision", HX, decision="skipped")
    assert skipped.status_code == 200
    assert skipped.text.lstrip().startswith(
        f'<article class="pair card decided" id="pair-{pair["id"]}"'
    )
    assert "Skipped for now." in skipped.text
    assert shop.pairs("skipped")[0]["id"] == pair["id"]
    scanned = post(client, shop.url + "/scan", HX)
    assert scanned.text.lstrip().startswith('<section id="queue"')
    assert "Scanned: compared 1 pair of records; no new likely duplicates." in scanned.text
    assert "<html" not in scanned.text
    bad = post(client, f"{shop.url}/{pair['id']}/decision", HX, decision="maybe")
    assert bad.status_code == 422
    assert "Traceback" not in bad.text


# ---- merge and undo ----------------------------------------------------------------------


def test_the_merge_screen_preselects_the_survivorship_defaults(client, shop):
    a, b = shop.twins()
    (pair,) = shop.pairs()
    log_in(client, shop.owner)
    page = client.get(f"{shop.url}/{pair['id']}/merge").text
    checked = dict(re.findall(r'name="choice\.(\w+)" value="(\w+)" checked', page))
    # name/city: the survivor's (most complete), phone: the loser's (survivor's is empty),
    # unsubscribed: the restrictive one, tags: both
    assert checked == {
        "name": "survivor",
        "email": "survivor",
        "phone": "loser",
        "city": "survivor",
        "tags": "both",
        "unsubscribed": "loser",
    }
    assert 'name="value.name"' in page and 'name="value.tags"' not in page
    swapped = client.get(f"{shop.url}/merge", params={"survivor": b["id"], "loser": a["id"]})
    assert re.search(r'name="survivor" value="' + str(b["id"]), swapped.text)

    preview = post(
        client,
        f"{shop.url}/merge/preview",
        HX,
        survivor=a["id"],
        loser=b["id"],
        **{"choice.name": "loser", "value.city": "Oslo"},
    )
    assert preview.status_code == 200
    assert "<dt>Name</dt><dd>A. Lovelace" in preview.text
    assert "<dt>City</dt><dd>Oslo" in preview.text
    plain = post(
        client,
        f"{shop.url}/merge/preview",
        survivor=a["id"],
        loser=b["id"],
        **{"choice.name": "loser"},
    )
    assert 'name="choice.name" value="loser" checked' in plain.text


def test_a_merge_through_the_form_keeps_the_chosen_values_and_can_be_undone(client, shop):
    a, b = shop.twins()
    (pair,) = shop.pairs()
    log_in(client, shop.owner)
    done = post(
        client,
        shop.url + "/merge",
        survivor=a["id"],
        loser=b["id"],
        pair=pair["id"],
        **{
            "choice.name": "loser",
            "choice.email": "survivor",
            "choice.phone": "loser",
            "choice.city": "survivor",
            "value.city": "Oslo",
            "choice.tags": "both",
            "choice.unsubscribed": "survivor",
        },
    )
    assert done.status_code == 303
    assert re.fullmatch(rf"{shop.url}/merges/\d+", done.headers["location"])
    survivor = shop.get(a["id"])["fields"]
    assert survivor["name"] == "A. Lovelace"  # the loser's, as chosen
    assert survivor["city"] == "Oslo"  # typed
    assert survivor["phone"] == "+442079460958"
    assert survivor["tags"] == ["vip", "lead"]
    assert survivor["unsubscribed"] is False  # the survivor's, chosen over the default
    loser_page = client.get(f"/w/{shop.ws}/t/{shop.type_id}/r/{b['id']}", follow_redirects=False)
    assert loser_page.status_code == 301
    assert shop.pairs("merged")[0]["id"] == pair["id"]

    confirmation = client.get(done.headers["location"])
    assert f"<strong>A. Lovelace</strong> (#{b['id']}) was merged into" in confirmation.text
    merged_tab = client.get(shop.url, params={"status": "merged"}).text
    assert done.headers["location"] in merged_tab

    undone = post(client, done.headers["location"] + "/undo")
    assert undone.status_code == 303
    assert "The merge was undone." in client.get(undone.headers["location"]).text
    assert shop.get(a["id"])["fields"]["name"] == "Ada Lovelace"
    assert shop.get(b["id"])["fields"]["city"] == "Paris"
    assert shop.pairs()[0]["id"] == pair["id"]


def test_undo_after_a_later_change_offers_undo_anyway(client, shop):
    a, b = shop.twins()
    log_in(client, shop.owner)
    done = post(client, shop.url + "/merge", survivor=a["id"], loser=b["id"])
    records.update_record(shop.runtime, shop.acc, shop.rt, a["id"], {"city": "Rome"})
    refused = post(client, done.headers["location"] + "/undo")
    assert refused.status_code == 409
    assert "The surviving record was changed after the merge" in refused.text
    assert 'name="force" value="1"' in refused.text and "Undo anyway" in refused.text
    assert shop.get(a["id"])["fields"]["city"] == "Rome"
    forced = post(client, done.headers["location"] + "/undo", force="1")
    assert forced.status_code == 303
    assert shop.get(a["id"])["fields"]["city"] == "London"


def test_a_refused_merge_shows_why_next_to_the_field(client, shop):
    a, b = shop.twins()
    log_in(client, shop.owner)
    refused = post(
        client, shop.url + "/merge", survivor=a["id"], loser=b["id"], **{"value.email": "not mail"}
    )
    assert refused.status_code == 422
    assert re.search(r'id="choose-email-error">[^<]+</p>', refused.text)
    assert 'value="not mail"' in refused.text
    assert shop.get(b["id"])["id"] == b["id"]  # nothing merged
    same = client.get(f"{shop.url}/merge", params={"survivor": a["id"], "loser": a["id"]})
    assert same.status_code == 422
    gone = post(client, shop.url + "/merge", survivor=a["id"], loser=b["id"])
    assert gone.status_code == 303
    again = client.get(f"{shop.url}/merge", params={"survivor": a["id"], "loser": b["id"]})
    assert again.status_code == 409
    assert "was already merged into record" in again.text
