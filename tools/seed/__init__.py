"""The demo-data seeder behind `tools/dummy.py` (`make dummy`).

One module per job: `options` (the command line, checked against the API's rules),
`content` (Faker's names and descriptions, pooled once per run), `rows` (the buckets and
items to add, as generators), `writers` (the bulk path: COPY on PostgreSQL, executemany on
SQLite), `progress` (tqdm's bar on a terminal) and `run` (the one transaction, and `main`).
"""
