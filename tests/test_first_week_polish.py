"""The rough edges a newcomer hit on the first day: email and phone cells that navigate away
instead of editing, phone numbers in raw E.164, duplicate element ids, a login that forgot
the search, no favicon, link colour under WCAG AA contrast."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import Api, field, make_type, records_path
from tests.web import log_in, page_user
from workspace.access import auth, workspaces
from workspace.principal import Principal

STATIC = Path(__file__).resolve().parent.parent / "workspace" / "web" / "static"


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids[value] += 1


def duplicate_ids(html: str) -> list[str]:
    parser = _Ids()
    parser.feed(html)
    return sorted(i for i, n in parser.ids.items() if n > 1)


@pytest.fixture
def crm(client: Any, runtime: Any) -> dict[str, Any]:
    me = page_user(runtime, "Pia Polish")
    ws = workspaces.create(runtime, Principal(me["id"], me["email"]), "Shop")["id"]
    _, token = auth.create_token(runtime, me["id"], "t")
    api = Api(client, token)
    company, _ = make_type(api, ws, "Company", field("Name", "text"))
    rt, _ = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text"),
        field("Email", "email"),
        field("Phone", "phone"),
        field("Company", "relation", target=company["id"]),
    )
    acme = api.post(records_path(ws, company), {"fields": {"name": "Acme"}}, expect=201)
    api.post(records_path(ws, company), {"fields": {"name": "Globex"}}, expect=201)
    ada = api.post(
        records_path(ws, rt),
        {
            "fields": {
                "name": "Ada",
                "email": "ada@example.org",
                "phone": "+44 20 7946 0958",
                "company": [acme["id"]],
            }
        },
        expect=201,
    )
    log_in(client, me)
    return {
        "ws": ws,
        "rt": rt,
        "ada": ada,
        "acme": acme,
        "base": f"/w/{ws}/t/{rt['id']}",
        "companies": f"/w/{ws}/t/{company['id']}",
    }


def cell(html: str, record_id: int, key: str) -> str:
    found = re.search(rf'<td id="c-{record_id}-{key}".*?</td>', html, re.S)
    assert found, key
    return found.group(0)


def test_email_and_phone_cells_edit_on_click_and_link_from_a_small_icon(client, crm):
    table = client.get(crm["base"]).text
    ada = crm["ada"]["id"]
    email = cell(table, ada, "email")
    # The value is text, so a click on it reaches the cell's editor; the icon is the link.
    assert '<span class="contact-value">ada@example.org</span>' in email
    assert re.search(r'<a class="contact-link" href="mailto:ada@example.org"[^>]*>✉</a>', email)
    phone = cell(table, ada, "phone")
    assert '<span class="contact-value">+44 20 7946 0958</span>' in phone
    assert 'href="tel:+442079460958"' in phone and 'aria-label="Call +44 20 7946 0958"' in phone


def test_phone_numbers_read_in_their_regions_international_format(client, crm):
    page = client.get(f"{crm['base']}/r/{crm['ada']['id']}").text
    assert '<span class="contact-value">+44 20 7946 0958</span>' in page
    assert 'href="tel:+442079460958"' in page  # dialling takes the stored form


@pytest.mark.parametrize(
    "path",
    [
        "{base}",
        "{base}/new",
        "{base}/r/{ada}",
        "{base}/r/{ada}?edit=company",
        "{companies}",
        "{companies}/r/{acme}",
        "{companies}/new",
    ],
)
def test_pages_have_no_duplicate_element_ids(client, crm, path):
    url = path.format(
        base=crm["base"], companies=crm["companies"], ada=crm["ada"]["id"], acme=crm["acme"]["id"]
    )
    page = client.get(url)
    assert page.status_code == 200
    assert duplicate_ids(page.text) == []


def test_a_cell_being_edited_beside_the_quick_add_row_has_ids_of_its_own(client, crm):
    page = client.get(crm["base"]).text
    ada = crm["ada"]["id"]
    for key in ("name", "email", "phone"):
        editor = client.get(
            f"{crm['base']}/table/cell/{ada}/{key}/edit", headers={"HX-Request": "true"}
        )
        assert editor.status_code == 200
        assert f'for="e-{ada}-{key}"' in editor.text
        shown = cell(page, ada, key)  # the editor takes the cell's place, as htmx swaps it
        assert duplicate_ids(page.replace(shown, editor.text, 1)) == []


def test_login_comes_back_to_the_search_it_interrupted(client, crm):
    client.cookies.clear()
    wanted = crm["base"] + "?q=ada&sort=name"
    answer = client.get(wanted, follow_redirects=False)
    assert answer.status_code == 303
    next_ = parse_qs(urlsplit(answer.headers["location"]).query)["next"]
    assert next_ == [wanted]


def test_every_page_names_a_favicon_that_is_served(client, crm):
    page = client.get(crm["base"]).text
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert icon
    served = client.get(icon.group(1))
    assert served.status_code == 200 and served.text.startswith("<svg")
    login = client.get("/login").text
    assert 'rel="icon"' in login


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_link_colour_meets_wcag_aa_contrast_on_the_page_and_panels():
    css = (STATIC / "app.css").read_text()
    found = re.findall(r"--([a-z-]+): #([0-9a-f]{6}|[0-9a-f]{3})\b", css)
    colours = {name: "#" + (h if len(h) == 6 else "".join(c * 2 for c in h)) for name, h in found}
    for background in (colours["bg"], colours["panel"]):
        assert contrast(colours["accent"], background) >= 4.5, background
    assert contrast("#ffffff", colours["accent"]) >= 4.5  # primary buttons' white text
