"""Fake SaaS APIs on 127.0.0.1 for connector tests: HubSpot, Mailchimp and Stripe.

Each fake speaks its vendor's documented wire format (paging, incremental queries, errors, rate
limits, webhook signatures) from in-memory data that a test seeds and changes, and records what
the client sent. Start one as a context manager (``with HubSpotFake() as hubspot:``) or with
the fixtures of :mod:`tests.fake_saas.fixtures`
(``pytest_plugins = ["tests.fake_saas.fixtures"]``).
"""

from tests.fake_saas.clock import Clock
from tests.fake_saas.faults import Fault
from tests.fake_saas.hubspot import HubSpotFake
from tests.fake_saas.mailchimp import MailchimpFake
from tests.fake_saas.people import Company, Person, companies, people
from tests.fake_saas.server import FakeServer, RecordedRequest, Reply, Sink, Write
from tests.fake_saas.stripe import StripeFake
from tests.fake_saas.webhooks import Delivery

__all__ = [
    "Clock",
    "Company",
    "Delivery",
    "FakeServer",
    "Fault",
    "HubSpotFake",
    "MailchimpFake",
    "Person",
    "RecordedRequest",
    "Reply",
    "Sink",
    "StripeFake",
    "Write",
    "companies",
    "people",
]
