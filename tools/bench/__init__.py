"""`python -m tools.bench`: the service's throughput and latency against two baselines.

One module per job: `servers` (the service and the baselines as processes), `database`
(the throw-away database and its seed), `wrk` (load runs and the CPU they cost),
`scenarios` (what each endpoint is sent, and the check that every server answers alike),
`run` (interleaved rounds), `scale`, `profile`, `report` and `cli`. `abuse` is the
in-process worst-case request-body benchmark (`python -m tools.bench.abuse`). The
baselines themselves are standalone apps in `baselines/`, loaded by gunicorn and uvicorn
from that directory.

Kept free of imports: `tests/test_abuse.py` imports `tools.bench.abuse`.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class BenchError(Exception):
    """A step failed; the message is for the operator."""
