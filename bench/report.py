"""Per-phase figures and the printed tables."""

from __future__ import annotations

from dataclasses import dataclass

from load_client import Outcome

# A popular peer server on this very workload on a 2-core machine.
PEER = {
    "bulk": 1133.0,
    "create": 85.0,
    "get": 138.0,
    "page": 11.6,
    "email": 8.7,
    "update": 71.0,
}
LABELS = {
    "bulk": "bulk create (rows/s)",
    "create": "single create",
    "get": "get by id",
    "page": "filtered page of 25",
    "email": "lookup by email",
    "update": "update one field",
}


@dataclass
class Phase:
    """What one operation measured on one side (API or raw SQL)."""

    op: str
    outcome: Outcome
    concurrency: int
    rows_per_request: int = 1
    server_cpu: float = 0.0  # seconds, every server process
    db_cpu: float = 0.0  # seconds, the MariaDB server (shared with anything else running)
    client_cpu: float = 0.0  # seconds, this process while requests were in flight
    other_cores: float = 0.0  # cores busy with other processes on the machine meanwhile

    @property
    def requests(self) -> int:
        return len(self.outcome.latencies)

    @property
    def throughput(self) -> float:
        """Requests per second, or rows per second for bulk."""
        if not self.outcome.wall:
            return 0.0
        return self.outcome.ok * self.rows_per_request / self.outcome.wall

    def percentile(self, q: float) -> float:
        """Latency in ms at quantile ``q`` (nearest rank)."""
        lat = sorted(self.outcome.latencies)
        if not lat:
            return float("nan")
        return lat[min(len(lat) - 1, round(q * (len(lat) - 1)))] * 1000

    def ceiling(self, cores: int = 2) -> float:
        """Throughput if server, MariaDB and client had ``cores`` to themselves and CPU were the
        only limit: an estimate that sets other sessions' load on the machine aside."""
        spent = self.server_cpu + self.db_cpu + self.client_cpu
        return cores * self.outcome.ok * self.rows_per_request / spent if spent else 0.0

    def per_request_ms(self, seconds: float) -> float:
        return seconds * 1000 / self.requests if self.requests else float("nan")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header))]
    lines += [_row(r) for r in rows]
    return "\n".join(lines)


def main_table(api: dict[str, Phase], raw: dict[str, Phase]) -> str:
    header = [
        "operation", "c", "API req/s", "p50 ms", "p99 ms", "server CPU ms/req",
        "raw SQL ops/s", "API/raw", "peer req/s", "API/peer",
    ]  # fmt: skip
    rows = []
    for op, label in LABELS.items():
        a, r = api.get(op), raw.get(op)
        if a is None:
            continue
        rows.append(
            [
                label,
                str(a.concurrency),
                f"{a.throughput:,.0f}",
                f"{a.percentile(0.5):.1f}",
                f"{a.percentile(0.99):.1f}",
                f"{a.per_request_ms(a.server_cpu):.1f}",
                f"{r.throughput:,.0f}" if r else "-",
                f"{a.throughput / r.throughput:.2f}" if r and r.throughput else "-",
                f"{PEER[op]:,.1f}",
                f"{a.throughput / PEER[op]:.1f}x",
            ]
        )
    return _table(header, rows)


def detail_table(api: dict[str, Phase], raw: dict[str, Phase]) -> str:
    header = [
        "operation", "side", "n", "errors", "misses", "wall s", "p50 ms", "p99 ms",
        "client CPU ms/req", "client CPU %core", "MariaDB CPU ms/req", "other procs, cores",
        "CPU-bound ceiling/s",
    ]  # fmt: skip
    rows = []
    for op, label in LABELS.items():
        for side, phases in (("API", api), ("raw", raw)):
            p = phases.get(op)
            if p is None:
                continue
            wall = p.outcome.wall or float("nan")
            rows.append(
                [
                    label,
                    side,
                    str(p.requests),
                    str(p.outcome.statuses.total() - p.outcome.ok),
                    str(p.outcome.misses),
                    f"{p.outcome.wall:.1f}",
                    f"{p.percentile(0.5):.2f}",
                    f"{p.percentile(0.99):.2f}",
                    f"{p.per_request_ms(p.client_cpu):.2f}",
                    f"{100 * p.client_cpu / wall:.0f}",
                    f"{p.per_request_ms(p.db_cpu):.2f}",
                    f"{p.other_cores:.2f}",
                    f"{p.ceiling():,.0f}",
                ]
            )
    return _table(header, rows)


def percentile(latencies: list[float], q: float) -> float:
    """Latency in ms at quantile ``q`` (nearest rank) of ``latencies`` in seconds."""
    ordered = sorted(latencies)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def latency_rows(phases: dict[str, list[Outcome]]) -> str:
    """A table of p50, p99 and max per round of each phase, and of each phase as a whole."""
    rows = []
    for name, rounds in phases.items():
        for i, outcome in enumerate(rounds, 1):
            rows.append(_latency_row(f"{name}, round {i}", outcome.latencies, outcome.ok))
        everything = [t for o in rounds for t in o.latencies]
        rows.append(_latency_row(f"**{name}, all rounds**", everything, sum(o.ok for o in rounds)))
    header = ["phase", "requests", "ok", "p50 ms", "p99 ms", "max ms"]
    return _table(header, rows)


def _latency_row(name: str, latencies: list[float], ok: int) -> list[str]:
    cells = [f"{percentile(latencies, q):.1f}" for q in (0.5, 0.99)]
    return [name, str(len(latencies)), str(ok), *cells, f"{max(latencies, default=0) * 1000:.0f}"]


def pooled_p99(rounds: list[Outcome]) -> float:
    return percentile([t for o in rounds for t in o.latencies], 0.99)
