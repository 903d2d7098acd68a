"""Names and descriptions for the demo rows: Faker's values, drawn into pools once per run."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from faker import Faker

NO_DESCRIPTION_SHARE = 0.15
POOL_SIZE = 400  # Faker values per slot: plenty of variety, built in a few milliseconds
ITEM_NAMES_PER_THEME = 2_000
DESCRIPTIONS = 10_000

# Each theme pairs bucket names with item names, so a bucket's items fit its name.
# `{slot}` names a Faker provider (or one of the local lists below).
THEMES: dict[str, tuple[list[str], list[str]]] = {
    "travel": (
        [
            "Travel to {country}",
            "{country} someday",
            "Road trip through {state}",
            "A weekend in {city}",
            "{month_name} in {country}",
            "Backpacking {country}",
            "Places to see",
        ],
        [
            "Visit {city}",
            "Spend a night in {city}",
            "Walk the length of {street_name}",
            "Eat street food in {city}",
            "Watch the sunrise over {city}",
            "Take the night train to {city}",
            "Find the oldest bar in {city}",
        ],
    ),
    "learning": (
        [
            "Learn {language_name}",
            "Get good at {subject}",
            "Classes in {city}",
            "Before I turn {age}",
            "Skills for next year",
            "Things to learn",
        ],
        [
            "Learn {language_name}",
            "Hold a conversation in {language_name}",
            "Learn to play the {instrument}",
            "Take a course on {subject}",
            "Read a book about {subject}",
            "Shadow a {job} for a day",
        ],
    ),
    "people": (
        [
            "Time with {first_name}",
            "{first_name}'s birthday",
            "Family in {city}",
            "Friends in {city}",
            "Reconnect with {first_name}",
            "People to see",
        ],
        [
            "Call {first_name}",
            "Have dinner with {first_name}",
            "Visit {first_name} in {city}",
            "Write a letter to {first_name}",
            "Plan a surprise for {first_name}",
            "Go camping with {first_name}",
        ],
    ),
    "career": (
        [
            "Become a {job}",
            "Side project: {catch_phrase}",
            "Work at {company}",
            "Speak about {subject}",
            "Work goals",
        ],
        [
            "Interview at {company}",
            "Pitch an idea to {company}",
            "Work as a {job} for a week",
            "Give a talk on {subject}",
            "Mentor a junior {job}",
            "Ship the {catch_phrase} project",
        ],
    ),
    "reading": (
        [
            "{first_name}'s book tips",
            "Book club with {first_name}",
            "Books about {subject}",
            "Reading in {month_name}",
            "Books to read",
        ],
        [
            "Read \u201c{catch_phrase}\u201d",
            "Finish \u201c{catch_phrase}\u201d",
            "Reread \u201c{catch_phrase}\u201d",
            "Read everything by {name}",
        ],
    ),
    "outdoors": (
        [
            "Summer in {state}",
            "Outdoors in {state}",
            "Train for a {distance}",
            "Adventures with {first_name}",
            "Fitness goals",
        ],
        [
            "Run a {distance}",
            "Hike near {city}",
            "Swim in a lake in {state}",
            "Cycle from {city} to {city}",
            "Camp under the stars in {state}",
            "Climb the highest hill in {state}",
        ],
    ),
}
LOCAL_POOLS: dict[str, list[str]] = {
    "instrument": [
        "piano",
        "guitar",
        "violin",
        "cello",
        "drums",
        "ukulele",
        "saxophone",
        "harp",
        "banjo",
        "flute",
    ],
    "subject": [
        "astronomy",
        "bread baking",
        "woodworking",
        "photography",
        "first aid",
        "sailing",
        "pottery",
        "beekeeping",
        "chess",
        "watercolour",
        "statistics",
        "gardening",
        "welding",
        "typography",
    ],
    "distance": ["5k", "10k", "half marathon", "marathon", "trail race", "relay", "fun run"],
    "age": [str(n) for n in range(25, 71, 5)],
}
DESCRIPTION_TAILS = [
    "With {first_name}.",
    "Maybe in {month_name}.",
    "Ask {first_name} how.",
    "Budget: ${price}.",
    "Before {month_name}.",
    "Started planning with {first_name}.",
]

SLOT = re.compile(r"\{(\w+)\}")
# A template split at its slots: literal text alternating with pools to pick from.
Template = tuple[tuple[str, ...], tuple[Sequence[str], ...]]


class Content:
    """Names and descriptions from Faker, drawn into pools once per run.

    Calling Faker (or even filling a template) for every row would be the slowest part
    of a million-row run; picking a pooled item name or description is one random() call.
    """

    def __init__(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        rand = random.Random(seed).random
        self._fake = fake
        self._pools: dict[str, Sequence[str]] = dict(LOCAL_POOLS)
        self._bucket_names = [[self._compile(t) for t in buckets] for buckets, _ in THEMES.values()]
        item_templates = [[self._compile(t) for t in items] for _, items in THEMES.values()]
        self.item_names = [
            [self._fill_one(templates, rand) for _ in range(ITEM_NAMES_PER_THEME)]
            for templates in item_templates
        ]
        sentences = [fake.sentence(nb_words=8) for _ in range(POOL_SIZE * 5)]
        tails = [self._compile(t) for t in DESCRIPTION_TAILS]
        self.descriptions = [self._description(sentences, tails, rand) for _ in range(DESCRIPTIONS)]

    def _compile(self, text: str) -> Template:
        literals = SLOT.split(text)[::2]
        pools = tuple(self._pool(name) for name in SLOT.findall(text))
        return tuple(literals), pools

    def _pool(self, name: str) -> Sequence[str]:
        if name not in self._pools:
            if name == "price":
                values = [str(self._fake.random_int(20, 5000, step=10)) for _ in range(POOL_SIZE)]
            else:
                values = [str(getattr(self._fake, name)()) for _ in range(POOL_SIZE)]
            self._pools[name] = values
        return self._pools[name]

    @staticmethod
    def _fill_one(templates: Sequence[Template], rand: Callable[[], float]) -> str:
        literals, pools = templates[int(rand() * len(templates))]
        parts = [literals[0]]
        for pool, literal in zip(pools, literals[1:], strict=True):
            parts.append(pool[int(rand() * len(pool))])
            parts.append(literal)
        return "".join(parts)[:200]  # the column's limit; Faker's values are far shorter

    def _description(
        self, sentences: Sequence[str], tails: Sequence[Template], rand: Callable[[], float]
    ) -> str | None:
        roll = rand()
        if roll < NO_DESCRIPTION_SHARE:
            return None
        text = sentences[int(rand() * len(sentences))]
        if roll > 0.6:
            text += " " + sentences[int(rand() * len(sentences))]
        if roll > 0.8:
            text += " " + self._fill_one(tails, rand)
        return text

    @property
    def theme_count(self) -> int:
        return len(self._bucket_names)

    def bucket_name(self, theme: int, rand: Callable[[], float]) -> str:
        # Filled afresh for each bucket: there are few buckets, and their names should vary.
        return self._fill_one(self._bucket_names[theme], rand)
