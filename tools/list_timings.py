"""Median times of single list requests on one big bucket: pages by number, by cursor, q, done.

In process (the app's test client, no network), against the database DATABASE_URL names,
so the figures are the list code and its queries, nothing else. `--seed N` first adds a
bucket of N items to the user of `tools/dummy.py` (run that first): names 'Item n', every
tenth with ' travel', every third done, one second apart, as `make bench ARGS="--scale"`
makes them.

    DATABASE_URL=postgresql://... SECRET_KEY=... .venv/bin/python tools/list_timings.py --seed 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time
from urllib.parse import urlsplit

from pony.orm import db_session

from bucketlist import create_app
from bucketlist.config import Settings

SEED_SQL = """
INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)
SELECT 'Item ' || n || CASE WHEN n % 10 = 0 THEN ' travel' ELSE '' END, NULL, n % 3 = 0, $bucket, t, t
FROM (SELECT n, timestamp '2020-01-01' + n * interval '1 second' AS t
      FROM generate_series(1, $items) AS n) AS s
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--email", default="example@bucketmail.com")
    parser.add_argument("--password", default="123456")
    parser.add_argument("--bucket", type=int, help="the bucket to list (default: the one --seed makes)")
    parser.add_argument("--seed", type=int, metavar="N", help="add a bucket of N items first (PostgreSQL)")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    app = create_app(Settings.from_env())
    with app.test_client() as client:
        login = client.post("/v1/auth/login", json={"email": args.email, "password": args.password})
        headers = {"Authorization": f"Bearer {login.json()['auth_token']}"}
        bucket = args.bucket
        if args.seed:
            bucket = client.post("/v1/bucketlists", json={"name": "Giant"}, headers=headers).json()["id"]
            db = app.app.extensions["bucketlist"].db
            with db_session:
                # The owner's row first, as every write of a user's data takes it (bucketlist.changes).
                db.execute(
                    "UPDATE users SET change_seq = change_seq + 1"
                    " WHERE id = (SELECT owner_id FROM buckets WHERE id = $bucket)",
                    {"bucket": bucket},
                )
                db.execute(SEED_SQL, {"bucket": bucket, "items": args.seed})
                db.execute("ANALYZE items")
        base = f"/v1/bucketlists/{bucket}/items?limit=20"

        def get(url: str) -> dict:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        def timed(label: str, url: str) -> dict:
            get(url)
            samples = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                body = get(url)
                samples.append((time.perf_counter() - started) * 1000)
            print(f"| {label} (page {body['page']}) | {statistics.median(samples):.2f} |", flush=True)
            return body

        def link(body: dict, which: str) -> str:
            parts = urlsplit(body[which])
            return f"{parts.path}?{parts.query}"

        print("| Request | ms |\n|---|---:|")
        count = get(base)["count"]
        middle, last = count // 40, -(-count // 20)
        first = timed("page 1", base)
        timed("page 2, `next` of page 1", link(first, "next"))
        by_number = timed("middle page, by number", f"{base}&page={middle}")
        timed("middle page, `next` of the one before", link(by_number, "next"))
        end = timed("last page, by number", f"{base}&page={last}")
        timed("`previous` of the last page", link(end, "previous"))
        search = timed("`q=travel`, page 1", f"{base}&q=travel")
        timed("`q=travel`, `next` of page 1", link(search, "next"))
        middle_search = timed("`q=travel`, middle page, by number", f"{base}&q=travel&page={middle // 10}")
        timed("`q=travel`, `next` of the middle page", link(middle_search, "next"))
        timed("`q=nothing-matches`, page 1", f"{base}&q=nothing-matches")
        done = timed("`done=true`, page 1", f"{base}&done=true")
        timed("`done=true`, `next` of page 1", link(done, "next"))
        middle_done = timed("`done=true`, middle page, by number", f"{base}&done=true&page={middle // 3}")
        timed("`done=true`, `next` of the middle page", link(middle_done, "next"))


if __name__ == "__main__":
    main()
