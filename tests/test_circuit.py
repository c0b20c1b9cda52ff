"""The circuit of a customer's database: a bounded number of turns, a bounded waiting room,
and a breaker that opens after failures in a row and lets one probe through later."""

from __future__ import annotations

import threading

import pytest

from workspace.circuit import FAILURES_TO_OPEN, OPEN_SECONDS, Circuit
from workspace.errors import Unavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(circuit: Circuit, times: int) -> None:
    for _ in range(times):
        circuit.leave(answered=False, probe=circuit.enter())


def test_it_opens_after_failures_in_a_row_and_refuses_at_once_until_a_probe_is_due():
    clock = Clock()
    circuit = Circuit("db.example:3306", 4, clock=clock)
    fail(circuit, FAILURES_TO_OPEN - 1)
    circuit.leave(answered=True, probe=circuit.enter())  # an answer: the count starts again
    fail(circuit, FAILURES_TO_OPEN - 1)
    assert not circuit.is_open
    fail(circuit, 1)
    assert circuit.is_open
    clock.now += OPEN_SECONDS - 1
    with pytest.raises(Unavailable) as refused:
        circuit.enter()
    assert "db.example:3306 is not answering: the server stopped trying" in refused.value.message
    assert refused.value.retry_after == 1


def test_one_probe_goes_through_when_due_and_its_answer_decides():
    clock = Clock()
    circuit = Circuit("db.example:3306", 4, clock=clock)
    fail(circuit, FAILURES_TO_OPEN)
    clock.now += OPEN_SECONDS
    probe = circuit.enter()
    assert probe is True
    with pytest.raises(Unavailable):  # one probe at a time
        circuit.enter()
    circuit.leave(answered=False, probe=probe)
    assert circuit.is_open  # a failed probe opens it again, for as long again
    clock.now += OPEN_SECONDS - 0.5
    with pytest.raises(Unavailable):
        circuit.enter()
    clock.now += 0.5
    circuit.leave(answered=True, probe=circuit.enter())
    assert not circuit.is_open
    assert circuit.enter() is False


def test_turns_are_bounded_and_the_waiting_room_too():
    circuit = Circuit("db.example:3306", 2, waiting=1)
    circuit.enter()
    circuit.enter()
    entered = threading.Event()

    def wait_for_a_turn() -> None:
        circuit.enter()
        entered.set()

    waiter = threading.Thread(target=wait_for_a_turn)
    waiter.start()
    while circuit._waiters == 0:  # the waiter is in the room
        threading.Event().wait(0.01)
    with pytest.raises(Unavailable) as full:  # the room is full: at once
        circuit.enter()
    assert "every connection to it is busy" in full.value.message
    circuit.leave(answered=True)
    waiter.join(timeout=10)
    assert entered.is_set()
