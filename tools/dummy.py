"""Demo data: a user with buckets and items, on whatever DATABASE_URL points at.

    python tools/dummy.py [--email E] [--password P] [--buckets 100] [--items 1000]
                          [--seed N] [--reset]

The user goes in through the service's models and password hashing, so it can log in
through the API straight away. Buckets and items go in through the database's bulk path
(COPY on PostgreSQL, executemany on SQLite), one statement per table fed by a generator
so memory stays flat, all in one transaction: an interrupted or failed run leaves the
database as it was. The code is the package `tools/seed/`, one module per job.

Without --reset an existing user is topped up to the requested counts (never
duplicated, never shrunk); --reset deletes its buckets and items first and sets the
password. A given --seed makes the same names, descriptions and done flags every time,
with timestamps at the same offsets from the moment it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (`python tools/dummy.py`): the repository's root
    sys.path.insert(0, str(ROOT))

from tools.seed.run import main  # noqa: E402 - importable once the root is on the path

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
