"""--profile: py-spy on every worker of the service while wrk drives one endpoint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from tools.bench import BenchError
from tools.bench.servers import BIN, Server
from tools.bench.wrk import Scenario, Settings, run_wrk


def profile_service(
    settings: Settings, service: Server, scenario: Scenario, out_dir: Path, seconds: int
) -> dict:
    """py-spy on every service worker while wrk drives `scenario`; returns the top frames."""
    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(py_spy).exists():
        raise BenchError("py-spy is not installed (pip install py-spy)")
    out_dir.mkdir(parents=True, exist_ok=True)
    recorders = []
    for pid in service.worker_pids():
        path = out_dir / f"service-worker-{pid}.txt"
        recorders.append(
            (
                path,
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(seconds + 1),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--output",
                        str(path),
                        "--nonblocking",
                        "--gil",
                        "--threads",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                ),
            )
        )
    time.sleep(1)
    result = run_wrk(settings, service, scenario, seconds, "profile")
    for _path, recorder in recorders:
        recorder.wait(timeout=seconds + 60)
    stacks = [p for p, _ in recorders if p.exists()]
    summary = summarise_profile(stacks)
    summary["wrk_under_profiler"] = result
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"profile: {', '.join(str(p) for p in stacks)} (collapsed stacks; speedscope.app opens them)")
    return summary


FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def summarise_profile(paths: list[Path], top: int = 40) -> dict:
    """Shares of py-spy samples per function (self and inclusive) and per package (self).

    With --gil only the thread holding the GIL is sampled, so the shares are of the
    Python CPU time, not of time spent waiting on the database or the network.
    """
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame_name(f) for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            if not frames:
                continue
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            package = _package(frames[-1])
            packages[package] = packages.get(package, 0) + count
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + count
    if not total:
        return {"samples": 0}

    def share(table: dict[str, int], limit: int) -> list[list]:
        best = sorted(table.items(), key=lambda kv: -kv[1])[:limit]
        return [[name, round(100 * count / total, 1)] for name, count in best]

    return {
        "samples": total,
        "self_percent_by_package": share(packages, 30),
        "self_percent": share(own, top),
        "inclusive_percent": share(inclusive, top * 3),
    }


def _frame_name(frame: str) -> str:
    """`func (file.py:123)` without its line, so one function counts once."""
    match = FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def _package(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return "?"
    file = match["file"]
    if file == "<string>":
        return "pony (generated wrappers)"  # Pony's decorators compile their wrappers from source
    head = file.split("/", 1)[0]
    return head.removesuffix(".py") if "/" not in file else head
