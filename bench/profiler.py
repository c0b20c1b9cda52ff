"""Optional sampling profile of the server during each API phase (``--profile DIR``).

Runs ``py-spy record`` (``pip install py-spy``) on the server's process tree and prints the
functions that hold the most samples, inclusive and self. Sampling costs the server a few per
cent, so profiled runs are for finding hot spots, not for the figures.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profile:
    """One ``py-spy record`` process, started and stopped by this bench only."""

    def __init__(self, pid: int, out: Path) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.out = out
        # --gil: sample only the thread holding the GIL, i.e. where Python burns CPU, not the
        # threads waiting on MySQL sockets.
        cmd = [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil"]
        cmd += ["--rate", "200", "--format", "raw", "--output", str(out)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _frame(frame: str) -> tuple[str, str]:
    """("function (short/path.py)", package) from py-spy's "function (path/file.py:123)"."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    if "/lib/python3" in path:
        path = "stdlib/" + path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    package = path.split("/", 1)[0] if "/" in path else path
    if package == "stdlib":
        package = "stdlib:" + path.split("/")[1].removesuffix(".py")
    return f"{name} ({path})", package


APP_PACKAGES = {"workspace", "plugins", "storage_backends"}


def summary(path: Path, top: int = 15) -> str:
    """Where the server's samples go: by package (self time), the app's own functions
    (inclusive) and the hottest innermost functions (self)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return f"    (no profile written to {path})"
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        n = int(count)
        total += n
        own[frames[-1][0]] += n
        packages[frames[-1][1]] += n
        for name in {name for name, package in frames if package in APP_PACKAGES}:
            inclusive[name] += n
    if not total:
        return "    (no samples)"

    def block(title: str, counts: Counter[str]) -> list[str]:
        rows = [f"      {100 * n / total:5.1f}%  {f}" for f, n in counts.most_common(top)]
        return [f"    {title}:", *rows]

    return "\n".join(
        [
            f"    {total} samples of the thread holding the GIL",
            *block("self time by package", packages),
            *block("app functions, inclusive", inclusive),
            *block("innermost functions, self", own),
        ]
    )
