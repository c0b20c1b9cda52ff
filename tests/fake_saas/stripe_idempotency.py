"""Stripe's idempotency layer: a POST's answer saved under its ``Idempotency-Key``.

Documented behaviour (docs.stripe.com "Idempotent requests"): the status code and body of the
first request with a key are saved once the endpoint starts executing, and later requests with
the same key get the same answer (Stripe marks replays with ``Idempotent-Replayed: true``).
The parameters are compared with the first request's and a mismatch is an error, so is reusing
a key on another endpoint; a request that fails parameter validation is not saved, nor is one
that collides with a request still running (409). Keys may be pruned after 24 hours. GET and
DELETE ignore the header.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fake_saas.clock import Clock
from tests.fake_saas.server import RecordedRequest, Refusal, Reply

TTL_MS = 24 * 3600 * 1000


@dataclass
class _Saved:
    endpoint: str
    params: dict[str, Any]
    reply: Reply
    at_ms: int


class IdempotencyKeys:
    """Saved answers by key, and the keys of requests still running."""

    def __init__(self, clock: Clock, error: Callable[..., Reply]) -> None:
        self._clock = clock
        self._error = error
        self._saved: dict[str, _Saved] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self.replays = 0

    def begin(self, request: RecordedRequest) -> Reply | None:
        """Refuse a POST whose key is in use by a request still running (call on arrival)."""
        key = request.header("idempotency-key")
        if request.method != "POST" or not key:
            return None
        with self._lock:
            if key in self._running:
                message = (
                    "There is currently another in-progress request using this Idempotent Key"
                    " (that probably means you submitted twice, and the other request is still"
                    f" going through): {key}. Please try again later."
                )
                return self._error(409, "idempotency_error", message)
            self._running.add(key)
        request.context["idempotency_key"] = key
        return None

    def end(self, request: RecordedRequest) -> None:
        with self._lock:
            self._running.discard(request.context.get("idempotency_key", ""))

    def run(
        self, request: RecordedRequest, params: dict[str, Any], execute: Callable[[], Reply]
    ) -> Reply:
        """Answer from the saved reply, or ``execute`` and save what it answers."""
        key = request.context.get("idempotency_key")
        if key is None:
            return execute()
        endpoint = f"{request.method} {request.path}"
        with self._lock:
            saved = self._saved.get(key)
        if saved is not None and self._clock.now_ms() - saved.at_ms <= TTL_MS:
            return self._replay(saved, key, endpoint, params)
        try:
            reply = execute()
        except Refusal as refusal:
            if refusal.reply.status == 400:  # failed validation: nothing saved
                raise
            reply = refusal.reply
        with self._lock:
            self._saved[key] = _Saved(endpoint, copy.deepcopy(params), reply, self._clock.now_ms())
        return reply

    def _replay(self, saved: _Saved, key: str, endpoint: str, params: dict[str, Any]) -> Reply:
        if saved.endpoint != endpoint:
            message = (
                "Keys for idempotent requests can only be used for the same endpoint they were"
                f" first used for ('{saved.endpoint}' vs '{endpoint}'). Try using a key other"
                f" than '{key}' if you meant to execute a different request."
            )
            raise Refusal(self._error(400, "idempotency_error", message))
        if saved.params != params:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they"
                f" were first used with. Try using a key other than '{key}' if you meant to"
                " execute a different request."
            )
            raise Refusal(self._error(400, "idempotency_error", message))
        self.replays += 1
        headers = dict(saved.reply.headers) | {"Idempotent-Replayed": "true"}
        return Reply(saved.reply.status, copy.deepcopy(saved.reply.body), headers)
