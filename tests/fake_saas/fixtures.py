"""pytest fixtures that run each fake for one test: ``hubspot_fake``, ``mailchimp_fake``,
``stripe_fake``, and ``webhook_sink`` to receive webhooks.

Use them with ``pytest_plugins = ["tests.fake_saas.fixtures"]``. A test that needs other
settings (a search rate limit, a second audience) builds the fake itself with ``with``.
Teardown fails the test when the fake raised inside a handler: a crash of the fake must not pass
for a 500 the client handled.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from tests.fake_saas.hubspot import HubSpotFake
from tests.fake_saas.mailchimp import MailchimpFake
from tests.fake_saas.server import FakeServer, Sink
from tests.fake_saas.stripe import StripeFake

T = TypeVar("T", bound=FakeServer)


def running(fake: T) -> Iterator[T]:
    """Run ``fake`` for the duration of a fixture and fail on errors inside it."""
    with fake:
        yield fake
    if fake.errors:
        pytest.fail(f"{type(fake).__name__} failed inside a handler:\n{fake.errors[0]}")


@pytest.fixture
def hubspot_fake() -> Iterator[HubSpotFake]:
    yield from running(HubSpotFake())


@pytest.fixture
def mailchimp_fake() -> Iterator[MailchimpFake]:
    yield from running(MailchimpFake())


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    yield from running(StripeFake())


@pytest.fixture
def webhook_sink() -> Iterator[Sink]:
    yield from running(Sink())
