"""The built-in dedupe rules: normalisation on tricky inputs, and fuzzy scoring sanity.

The rules are pure functions of the values, so most tests call them directly; one test checks
that every built-in rule reaches the runtime through the plugin manager, like a third-party
rule would.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.dedupe_company import CompanyRule
from plugins.dedupe_contact import THRESHOLD, ContactRule
from plugins.dedupe_email import EmailRule, domain_name
from plugins.dedupe_names import PersonNameRule
from plugins.dedupe_phone import PhoneRule
from plugins.dedupe_text import fold_letters
from workspace import RuleContext

US = RuleContext(phone_region="US")
DE = RuleContext(phone_region="DE")

email, phone, company, person, contact = (
    EmailRule(),
    PhoneRule(),
    CompanyRule(),
    PersonNameRule(),
    ContactRule(),
)


def one_key(keys: set[str]) -> str | None:
    assert len(keys) <= 1, keys
    return next(iter(keys), None)


# ---- email -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe@Example.COM \n", "jane.doe@example.com"),
        # Gmail ignores dots and +tags; googlemail.com is the same namespace.
        ("J.A.N.E.Doe+newsletter@gmail.com", "janedoe@gmail.com"),
        ("jane.doe@googlemail.com", "janedoe@gmail.com"),
        ("JaneDoe+a+b@GoogleMail.com", "janedoe@gmail.com"),
        # A company server may treat dots and "+" literally: kept.
        ("jane.doe+sales@acme-corp.com", "jane.doe+sales@acme-corp.com"),
        ("j.doe@company.example", "j.doe@company.example"),
        # Providers with plus addressing only: dots stay, domains are not merged.
        ("jane.doe+shop@outlook.com", "jane.doe@outlook.com"),
        ("jane.doe+x@hotmail.com", "jane.doe@hotmail.com"),
        ("jane+x@icloud.com", "jane@icloud.com"),
        ("jane+x@me.com", "jane@me.com"),
        ("jane+x@fastmail.com", "jane@fastmail.com"),
        ("jane+x@proton.me", "jane@proton.me"),
        # Yahoo's "-" subaddresses use a separate base name: nothing is stripped.
        ("jane-shopping@yahoo.com", "jane-shopping@yahoo.com"),
        ("jane+x@yahoo.com", "jane+x@yahoo.com"),
        # Internationalised domains: one ASCII form whichever way they were written.
        ("anna@münchen.de", "anna@xn--mnchen-3ya.de"),
        ("anna@MÜNCHEN.DE", "anna@xn--mnchen-3ya.de"),
        ("anna@xn--mnchen-3ya.de", "anna@xn--mnchen-3ya.de"),
        # Full-width letters, as typed with an East Asian input method (UTS 46 maps them).
        ("anna@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "anna@example.com"),
        ("anna@example.com.", "anna@example.com"),  # the DNS root dot
        # As pasted from a mail client or a link.
        ("Jane Doe <Jane.Doe@GMAIL.com>", "janedoe@gmail.com"),
        ("mailto:jane@example.com", "jane@example.com"),
        # Not an address: no key, so it matches nothing.
        ("", None),
        ("   ", None),
        ("jane", None),
        ("@example.com", None),
        ("jane@", None),
        ("jane doe@example.com", None),
        ("jane@exa mple.com", None),
        ("jane@bad..com", None),
        ("+tag@gmail.com", None),  # nothing left of the mailbox
        (None, None),
        (42, None),
    ],
)
def test_email_key(value, key):
    assert one_key(email.keys([value], US)) == key


def test_email_dots_matter_off_gmail():
    assert email.keys(["jane.doe@acme.com"], US) != email.keys(["janedoe@acme.com"], US)
    assert email.keys(["jane.doe@outlook.com"], US) != email.keys(["janedoe@outlook.com"], US)


def test_email_providers_with_several_domains_stay_apart():
    # hotmail.com and outlook.com are separate namespaces: two people may own "jane".
    assert email.keys(["jane@hotmail.com"], US) != email.keys(["jane@outlook.com"], US)


# ---- phone -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ctx", "key"),
    [
        ("(650) 253-0000", US, "+16502530000"),
        ("650.253.0000", US, "+16502530000"),
        ("+1 650 253 0000", DE, "+16502530000"),  # a country code beats the region
        ("001 650 253 0000", DE, "+16502530000"),  # "00" is Germany's international prefix
        ("011 49 30 1234567", US, "+49301234567"),  # "011" is the US one
        ("030 1234567", DE, "+49301234567"),  # national format, trunk prefix 0
        ("+49 (0)30 123 45 67", US, "+49301234567"),
        ("0049-30-1234567", DE, "+49301234567"),
        ("+44 20 7946 0958", US, "+442079460958"),
        (6502530000, US, "+16502530000"),  # a number from a spreadsheet
        ("1-800-FLOWERS", US, "+18003569377"),
        # Extensions belong to the key: a switchboard is shared by colleagues.
        ("+1 650 253 0000 ext. 12", US, "+16502530000;ext=12"),
        ("(650) 253-0000 x12", US, "+16502530000;ext=12"),
        ("+1 650 253 0000;ext=12", US, "+16502530000;ext=12"),
        # Invalid: no key.
        ("12345", US, None),
        ("555-0100", US, None),  # too short for a US number
        ("+1 555 555 0100", US, None),  # not an assigned area code
        ("030 1234567", US, None),  # a German national number read in the US
        ("call me", US, None),
        ("", US, None),
        (None, US, None),
        (True, US, None),
        ("1" * 100, US, None),
    ],
)
def test_phone_key(value, ctx, key):
    assert one_key(phone.keys([value], ctx)) == key


def test_phone_extensions_tell_colleagues_apart():
    desk_a = phone.keys(["+1 650 253 0000 x12"], US)
    assert desk_a != phone.keys(["+1 650 253 0000 x13"], US)
    assert desk_a != phone.keys(["+1 650 253 0000"], US)


def test_phone_without_region_needs_a_country_code():
    assert phone.keys(["+1 650 253 0000"], RuleContext(phone_region="")) == {"+16502530000"}
    assert phone.keys(["650 253 0000"], RuleContext(phone_region="")) == set()


# ---- company -----------------------------------------------------------------------------

SAME_COMPANY = [
    ("ACME, Inc.", "Acme Incorporated"),
    ("ACME, Inc.", "acme inc"),
    ("Acme Inc", "  acme   INC.  "),
    ("Acme Corp.", "Acme Corporation"),
    ("The Acme Company", "Acme"),
    ("Acme, L.L.C.", "ACME LLC"),
    ("Acme Pty. Ltd.", "Acme"),
    ("Acme Pte Ltd", "Acme Limited"),
    ("Acme Co., Ltd.", "ACME"),
    ("Acme plc", "Acme PLC"),
    ("Siemens AG", "Siemens"),
    ("Müller GmbH & Co. KG", "Müller"),
    ("Müller GmbH & Co. KG", "Mueller GmbH"),
    ("Volvo AB", "AB Volvo"),
    ("Nokia Oyj", "Nokia"),
    ("Maersk A/S", "Maersk"),
    ("Novo ApS", "Novo"),
    ("Equinor ASA", "Equinor"),
    ("Nestlé S.A.", "Nestle SA"),
    ("Danone SARL", "Danone"),
    ("Philips N.V.", "Philips"),
    ("Heineken B.V.", "Heineken"),
    ("Ferrari S.p.A.", "Ferrari SpA"),
    ("Rossi S.r.l.", "Rossi"),
    ("Cemex S.A.B. de C.V.", "Cemex"),
    ("Widget S. de R.L. de C.V.", "Widget"),
    ("Ikea Sp. z o.o.", "IKEA"),
    ("Škoda Auto a.s.", "Skoda Auto"),
    ("Toyota Kabushiki Kaisha", "Toyota KK"),
    ("Garcia y Cia", "García"),
    ("Rossi et Cie", "Rossi"),
    # "&" and the connectives of the legal forms' languages are one word.
    ("Procter & Gamble", "Procter and Gamble Co."),
    ("Müller & Söhne GmbH", "Müller und Söhne"),
    ("Dupont et Fils", "Dupont & Fils"),
    ("Pérez y Hermanos", "Perez & Hermanos"),
    ("Berg och Son", "Berg & Son"),
    # Diacritics fold; umlauts also match their "ue" spelling, word by word.
    ("Müller & Söhne GmbH", "Muller and Sohne"),
    ("Müller & Söhne GmbH", "Mueller and Soehne"),
    ("Müller & Söhne GmbH", "Mueller and Sohne"),
    ("Ølstykke Øl AS", "Olstykke Ol"),
    ("Łódź Trading", "Lodz Trading"),
    # Punctuation.
    ("McDonald's Corporation", "McDonalds"),
    ("Hewlett-Packard Company", "Hewlett Packard"),
    ("J.P. Morgan Chase & Co.", "JP Morgan Chase"),
]

DIFFERENT_COMPANIES = [
    ("Acme Bank", "Acme"),  # "Bank" is not a legal form
    ("Acme Group", "Acme"),
    ("Acme Holdings Ltd", "Acme Ltd"),
    ("Acme Widgets", "Acme Gadgets"),
    ("Smith & Jones", "Smith Jones"),
    ("Mueller GmbH", "Muller GmbH"),  # no umlaut written: nothing says these are one name
    ("Inc.", "Ltd."),  # a name that is only a legal form keeps it
]


@pytest.mark.parametrize(("a", "b"), SAME_COMPANY)
def test_same_company(a, b):
    assert company.keys([a], US) & company.keys([b], US)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_COMPANIES)
def test_different_companies(a, b):
    assert not company.keys([a], US) & company.keys([b], US)


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("ACME, Inc.", {"acme"}),
        ("Inc.", {"inc"}),
        ("The Company", {"company"}),
        ("AG", {"ag"}),
        ("Müller GmbH & Co. KG", {"muller", "mueller"}),
        (
            "Müller & Söhne",
            {f"{m} and {s}" for m in ("muller", "mueller") for s in ("sohne", "soehne")},
        ),
        ("", set()),
        ("  ", set()),
        ("!!!", set()),
        (None, set()),
    ],
)
def test_company_keys(value, keys):
    assert company.keys([value], US) == keys


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC .,&'-", max_size=40))
def test_company_keys_ignore_case_and_spacing(name):
    assert company.keys([name], US) == company.keys([f"  {name.upper()}  "], US)


# ---- person name -------------------------------------------------------------------------

SAME_PERSON = [
    (["Dr. John A. Smith Jr."], ["Smith, John"]),
    (["John Smith"], ["Smith John"]),  # first and last swapped
    (["John Smith"], ["JOHN   SMITH "]),
    (["Prof. Dr. John Smith III"], ["john smith"]),
    (["Mr. John Smith"], ["John", "Smith"]),  # one full-name field, or first + last
    (["John Smith"], ["Smith", "John"]),  # first and last fields swapped
    (["Dr. John", "Smith Jr."], ["John Smith"]),
    (["", "John Smith"], ["John Smith"]),  # full name typed into one of two fields
    (["José García"], ["Jose Garcia"]),
    (["García, José"], ["JOSE GARCIA"]),
    (["Søren Kierkegaard"], ["Soren Kierkegaard"]),
    (["Łukasz Żółć"], ["Lukasz Zolc"]),
    (["Ævar Þórsson"], ["Aevar Thorsson"]),
    (["Jürgen Müller"], ["Jurgen Muller"]),
    (["Jürgen Müller"], ["Juergen Mueller"]),
    (["Mary-Jane O'Brien"], ["Maryjane OBrien"]),
    (["Ludwig van Beethoven"], ["Beethoven, Ludwig van"]),
    (["Bob (Robert) Smith"], ["Bob Smith"]),  # a nickname in brackets is set aside
]

DIFFERENT_PEOPLE = [
    (["John Smith"], ["Mary Smith"]),
    (["John Smith"], ["John Smyth"]),  # spelling variants are for the fuzzy rule
    (["Mueller, Hans"], ["Muller, Hans"]),
    (["Ludwig van Beethoven"], ["Ludwig Beethoven"]),
]


@pytest.mark.parametrize(("a", "b"), SAME_PERSON)
def test_same_person_name(a, b):
    assert person.keys(a, US) & person.keys(b, US)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_PEOPLE)
def test_different_person_names(a, b):
    assert not person.keys(a, US) & person.keys(b, US)


@pytest.mark.parametrize(
    "values",
    [
        ["Smith"],  # half a name
        ["Dr. Smith"],
        ["J. Smith"],  # an initial is shared by too many people
        ["Smith, J."],
        ["", ""],
        [None],
        [None, None],
        ["x" * 300],
    ],
)
def test_person_name_without_key(values):
    assert person.keys(values, US) == set()


def test_person_name_key_ignores_order_and_middle_names():
    assert person.keys(["Dr. John A. Smith Jr."], US) == {"john smith"}
    assert person.keys(["Smith", "John"], US) == {"john smith"}


@pytest.mark.parametrize(
    ("text", "folded"),
    [("Søren", "soren"), ("Æbelø", "aebelo"), ("Œuvre", "oeuvre"), ("Đorđe", "dorde")],
)
def test_letters_that_do_not_decompose_are_folded(text, folded):
    assert fold_letters(text) == folded


# ---- contact (fuzzy) ---------------------------------------------------------------------


def shares_a_key(a, b, ctx=US):
    return bool(contact.keys(a, ctx) & contact.keys(b, ctx))


LIKELY_SAME = [
    # name, email, phone, company
    (["Jon Smith", "jon.smith@acme.com"], ["John Smith", "Jon.Smith@ACME.com"]),
    (
        ["Jonh Smith", None, "650 253 0000", "Acme Inc"],
        ["John Smith", None, "+16502530000", "ACME"],
    ),
    (["Smith, John", "j.smith+crm@googlemail.com"], ["John Smith", "jsmith@gmail.com"]),
    (["J. Smith", "jsmith@acme.com"], ["John Smith", "jsmith@acme.com"]),
    (["Smith John"], ["John Smith"]),  # swapped, nothing else known
    (["José García", None, "+34 912 34 56 78"], ["Jose Garcia", None, "011 34 912345678"]),
    ([None, "jane@example.com"], [None, " JANE@example.com"]),
]


@pytest.mark.parametrize(("a", "b"), LIKELY_SAME)
def test_contact_likely_same(a, b):
    assert shares_a_key(a, b)
    result = contact.score(a, b, US)
    assert result.value >= THRESHOLD, result
    assert result.reasons


LIKELY_DIFFERENT = [
    # Colleagues: same company and switchboard, different names.
    (
        ["John Smith", "john@acme.com", "650 253 0000", "Acme Inc"],
        ["Priya Patel", "priya@acme.com", "650 253 0000", "ACME Incorporated"],
    ),
    # Colleagues with the same initial and a shared role mailbox.
    (["Jane Doe", "info@acme.com", None, "Acme"], ["Jim Brown", "info@acme.com", None, "Acme"]),
    # Household: same surname and landline.
    (["John Smith", None, "650 253 0000"], ["Mary Smith", None, "650 253 0000"]),
    (["John Smith", None, "650 253 0000"], ["Joan Smith", None, "650 253 0000"]),
    # Household sharing a family mailbox as well.
    (
        ["John Smith", "smiths@gmail.com", "650 253 0000"],
        ["Mary Smith", "smiths@gmail.com", "650 253 0000"],
    ),
    # Father and son.
    (["John Smith Jr.", None, "650 253 0000"], ["John Smith Sr.", None, "650 253 0000"]),
    # An initial on a shared landline could be Jane as well as John.
    (["J. Smith", None, "650 253 0000"], ["John Smith", None, "650 253 0000"]),
    # Namesakes with different contact details.
    (["John Smith", "js@a.com", "650 253 0000"], ["John Smith", "jsmith@b.com", "212 736 5000"]),
]


@pytest.mark.parametrize(("a", "b"), LIKELY_DIFFERENT)
def test_contact_likely_different(a, b):
    result = contact.score(a, b, US)
    assert result.value < THRESHOLD, result


def test_contact_reads_phones_in_the_workspace_region():
    a, b = ["Ana Ruiz", None, "+34 912 34 56 78"], ["Ana Ruiz", None, "912 34 56 78"]
    spain = RuleContext(phone_region="ES")
    assert "phone equal (+1.5)" in contact.score(a, b, spain).reasons
    assert "phone equal (+1.5)" not in contact.score(a, b, US).reasons


def test_contact_colleagues_score_low():
    a = ["John Smith", "john@acme.com", "650 253 0000", "Acme Inc"]
    b = ["Priya Patel", "priya@acme.com", "650 253 0000", "ACME Incorporated"]
    result = contact.score(a, b, US)
    assert result.value < 0.1
    assert any("same company" in reason for reason in result.reasons)


def test_contact_typo_scores_higher_than_household():
    typo = contact.score(
        ["Jon Smith", None, "650 253 0000"], ["John Smith", None, "650 253 0000"], US
    )
    household = contact.score(
        ["Mary Smith", None, "650 253 0000"], ["John Smith", None, "650 253 0000"], US
    )
    assert typo.value > THRESHOLD > household.value


def test_contact_score_is_symmetric_and_bounded():
    pairs = LIKELY_SAME + LIKELY_DIFFERENT
    for a, b in pairs:
        forward, backward = contact.score(a, b, US), contact.score(b, a, US)
        assert forward.value == backward.value
        assert 0.0 <= forward.value <= 1.0


def test_contact_blocking_keys():
    keys = contact.keys(
        ["Dr. John A. Smith", "J.Smith+x@gmail.com", "650 253 0000", "Acme, Inc."], US
    )
    assert keys == {
        "email:jsmith@gmail.com",
        "phone:+16502530000",
        "name:JN:SM0",  # metaphones of given and family name, sorted (swaps meet)
        "sound:S530:jo",  # Soundex + two letters survives "Smtih" and "Jonh"
        "company:acme:j",
    }
    assert contact.keys([None], US) == set()


def test_contact_blocking_keys_pair_typos_but_not_strangers():
    assert shares_a_key(["John Smtih"], ["John Smith"])  # by Soundex
    assert shares_a_key(["Jon Smyth"], ["John Smith"])  # by metaphone
    # Colleagues with other initials and their own extensions are never compared.
    assert not shares_a_key(
        ["John Smith", None, "650 253 0000 x1", "Acme"],
        ["Priya Patel", None, "650 253 0000 x2", "Acme"],
    )


def test_contact_blocking_keys_meet_initials_and_swaps():
    # An initial alone is too common to compare on; with anything else shared it meets.
    assert not shares_a_key(["J. Smith"], ["John Smith"])
    assert shares_a_key(["J. Smith", None, "650 253 0000"], ["John Smith", None, "6502530000"])
    assert shares_a_key(["Smith John"], ["John Smith"])
    assert shares_a_key(["Jonh Smith"], ["John Smith"])
    assert shares_a_key(["Mike Smith"], ["Michael Smith"])
    assert shares_a_key(["Bob Smith", "bob@acme.com"], ["Robert Smith", "bob@acme.com"])


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # A nickname of the given name, with the same mailbox or number.
        (["Bob Carter", "rcarter@yahoo.com"], ["Robert Carter", "rcarter@yahoo.com"]),
        (["Jim Hunter", None, "952 663 7033"], ["James Hunter", None, "+19526637033"]),
        # One letter of the mailbox slipped (dropped, swapped, doubled, mistyped).
        (["Jenna Walker", "jenna960@gmx.de"], ["jenan walker", "jena960@gmx.de"]),
        (["Andrew Johnson", "ajonhson2@outlook.com"], ["Andrew Johnson", "ajohnson2@outlook.com"]),
        # The company of one is the domain of the other's work address.
        (
            ["Barry Taylor", "barry.taylor@garciaandsanchez.com"],
            ["Barry Taylor", "btaylor3@gmail.com", "+16123189969", "Garcia & Sanchez Corp"],
        ),
    ],
)
def test_contact_nicknames_mailbox_typos_and_work_domains(a, b):
    assert shares_a_key(a, b)
    assert contact.score(a, b, US).value >= THRESHOLD


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Mailboxes that differ by a digit, a separator or the first letter are how a mail
        # server tells namesakes and colleagues apart: no typo.
        (["Brittany Smith", "bsmith@black.com"], ["Brittany Smith", "bsmith2@black.com"]),
        (["Thomas Lopez", "thomaslopez@gmail.com"], ["Thomas Lopez", "thomas_lopez@gmail.com"]),
        (["J. Smith", "jsmith@acme.com"], ["A. Smith", "asmith@acme.com"]),
        # A free mail provider's domain names no employer.
        (["Ann Lee", "ann.lee@gmail.com", None, "Acme"], ["Ann Lee", "alee@gmail.com"]),
        # Different people whose given names are not nicknames of each other.
        (["John Smith", None, "650 253 0000"], ["Mary Smith", None, "650 253 0000"]),
    ],
)
def test_contact_no_typo_or_employer_where_there_is_none(a, b):
    reasons = " ".join(contact.score(a, b, US).reasons)
    assert "typo" not in reasons
    assert "same company" not in reasons
    assert "nickname" not in reasons


def test_contact_weighs_address_and_date_of_birth():
    # name, email, phone, company, address, date of birth
    same = contact.score(
        ["Paige Lowe", None, "+61 2 9253 4242", None, "12 Wattle St", "1956-04-09"],
        ["paige lowe", None, "+61 2 9586 0195", None, "12 wattle st.", dt.date(1956, 4, 9)],
        US,
    )
    assert same.value >= THRESHOLD
    assert "same date of birth (+6.0)" in same.reasons
    assert "same address (weak: a household shares it) (+1.5)" in same.reasons
    # Namesakes born on other days, on other streets.
    namesakes = contact.score(
        ["John Smith", None, None, None, "1 Main St", "19560409"],
        ["John Smith", None, None, None, "80 Elm Road", "19810322"],
        US,
    )
    assert namesakes.value < THRESHOLD
    # A household: same surname and address, another given name and birthday.
    household = contact.score(
        ["John Smith", None, None, None, "1 Main St", "19560409"],
        ["Mary Smith", None, None, None, "1 Main Street", "19590611"],
        US,
    )
    assert household.value < 0.1


def test_contact_blocks_on_date_of_birth():
    a = ["Jhon Smtih", None, None, None, None, "1956-04-09"]
    assert "born:19560409" in contact.keys(a, US)
    assert shares_a_key(a, ["Smith Jon", None, None, None, None, dt.date(1956, 4, 9)])


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("jane@garciaandsanchez.com", "garciaandsanchez"),
        ("jane@mail.acme.co.uk", "acme"),
        ("jane@gmail.com", "gmail"),  # the provider: matches no employer but Gmail itself
        ("root@localhost", None),
        (None, None),
    ],
)
def test_domain_name_is_the_organisation_label(key, name):
    assert domain_name(key) == name


def test_contact_without_anything_to_compare_scores_zero():
    result = contact.score([None], ["John Smith"], US)
    assert result.value == 0.0


# ---- registration ------------------------------------------------------------------------


def test_every_builtin_rule_is_registered(runtime):
    assert runtime.dedupe_rules.names() == sorted(
        ["email", "phone", "company", "person_name", "contact"]
    )
    assert runtime.dedupe_rules.get("contact").fuzzy
    assert not any(runtime.dedupe_rules.get(n).fuzzy for n in ("email", "phone", "company"))
    for name in runtime.dedupe_rules.names():
        rule = runtime.dedupe_rules.get(name)
        assert rule.field_types <= set(runtime.field_types.names()), name
