"""CPU time of processes (server tree, database) and of the whole machine, read from /proc.

Only reads; it never signals anything. Linux only, like the bench's target machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ")".
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLOCK_TICKS


def _parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (uvicorn's supervisor and its worker processes)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parent_map().items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def pids_named(names: Iterable[str]) -> list[int]:
    """Processes whose command name is one of ``names`` (e.g. the MariaDB server)."""
    wanted, found = set(names), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() in wanted:
                    found.append(int(entry))
        except OSError:
            continue
    return found


@dataclass
class CpuMeter:
    """CPU seconds spent by a changing set of processes between ``start`` and ``stop``.

    A process that appears during the phase counts in full; one that exits loses its last
    slice (uvicorn does not restart workers in a healthy run, so this stays exact).
    """

    pids: Callable[[], list[int]]

    def snapshot(self) -> dict[int, float]:
        times = {pid: process_cpu_seconds(pid) for pid in self.pids()}
        return {pid: t for pid, t in times.items() if t is not None}

    def delta(self, before: dict[int, float]) -> float:
        after = self.snapshot()
        return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def machine_ticks() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def context_switches(pids: Iterable[int]) -> int:
    """Voluntary + involuntary context switches of every thread of ``pids`` so far."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")):
                            total += int(line.split()[1])
            except (OSError, ValueError):
                continue
    return total
