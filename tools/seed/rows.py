"""The rows to add: buckets over two years of history, items shared among them, as generators."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from tools.seed.content import Content

HISTORY = timedelta(days=730)  # demo data looks like two years of use
DONE_SHARE = 0.35
EDITED_SHARE = 0.2  # not done, but renamed or redescribed after creation
MICROSECOND = timedelta(microseconds=1)


# The columns this tool fills, by name; the bulk insert derives its column list and the
# text of each value from these and the model. Any other column takes its default.
class BucketRow(TypedDict):
    name: str
    owner_id: int
    created_at: datetime
    modified_at: datetime


class ItemRow(TypedDict):
    name: str
    description: str | None
    done: bool
    bucket_id: int
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class BucketPlan:
    """One of the user's buckets (old or new) and how many items to add to it."""

    id: int
    created_at: datetime
    theme: int
    new_items: int


def new_buckets(
    content: Content, rng: random.Random, owner_id: int, count: int, now: datetime
) -> tuple[list[int], Iterator[BucketRow]]:
    """Buckets spread evenly over the history, oldest first, so ids follow time as they would."""
    themes = [int(rng.random() * content.theme_count) for _ in range(count)]

    def rows() -> Iterator[BucketRow]:
        rand = rng.random
        start = now - HISTORY
        for index, theme in enumerate(themes):
            created = start + HISTORY * ((index + rand()) / count)
            modified = created + (now - created) * rand() if rand() < EDITED_SHARE else created
            yield {
                "name": content.bucket_name(theme, rand),
                "owner_id": owner_id,
                "created_at": created,
                "modified_at": modified,
            }

    return themes, rows()


def spread_items(
    rng: random.Random, buckets: list[tuple[int, datetime, int]], count: int
) -> list[BucketPlan]:
    """Share `count` items among the buckets unevenly (some lists are long, most are short)."""
    weights = [0.2 + rng.expovariate(1.0) for _ in buckets]
    total = sum(weights)
    plans, running, given = [], 0.0, 0
    for (bucket_id, created_at, theme), weight in zip(buckets, weights, strict=True):
        running += weight
        # Cumulative rounding: the shares add up to exactly `count`.
        upto = count if len(plans) == len(buckets) - 1 else int(count * running / total)
        plans.append(BucketPlan(bucket_id, created_at, theme, upto - given))
        given = upto
    return plans


def new_items(
    content: Content, rng: random.Random, plans: Iterable[BucketPlan], now: datetime
) -> Iterator[ItemRow]:
    """Each bucket's items in time order after the bucket itself, so newest-first lists read
    like a history and the (bucket_id, created_at, id) index is appended to, not scattered."""
    rand = rng.random
    descriptions = content.descriptions
    for plan in plans:
        if not plan.new_items:
            continue
        names = content.item_names[plan.theme]
        span = max((now - plan.created_at) // MICROSECOND, 1)
        for offset in sorted(int(rand() * span) for _ in range(plan.new_items)):
            created = plan.created_at + timedelta(0, 0, offset)
            done = rand() < DONE_SHARE
            edited = done or rand() < EDITED_SHARE
            modified = created + timedelta(0, 0, int(rand() * (span - offset))) if edited else created
            name = names[int(rand() * len(names))]
            description = descriptions[int(rand() * len(descriptions))]
            yield {
                "name": name,
                "description": description,
                "done": done,
                "bucket_id": plan.id,
                "created_at": created,
                "modified_at": modified,
            }
