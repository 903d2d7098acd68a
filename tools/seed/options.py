"""The seeder's options: the command line, checked against what the API's login accepts."""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bucketlist.app import load_spec
from bucketlist.models import normalise_email

DEFAULT_EMAIL = "example@bucketmail.com"
DEFAULT_PASSWORD = "123456"


class UsageError(Exception):
    """The options cannot be carried out; the message is one line for the operator."""


@dataclass(frozen=True)
class Options:
    email: str
    password: str
    buckets: int
    items: int
    seed: int
    reset: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="tools/dummy.py",
        description="Create a demo user with buckets and items (DATABASE_URL picks the database).",
        epilog="Run again, it tops an existing user up to the counts asked for and never"
        " duplicates it; --reset replaces the user's buckets and items instead.",
    )
    parser.add_argument("--email", default=DEFAULT_EMAIL, help=f"default {DEFAULT_EMAIL}")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help=f"default {DEFAULT_PASSWORD}")
    parser.add_argument(
        "--buckets", type=_count, default=100, help="buckets the user should have (default 100)"
    )
    parser.add_argument(
        "--items", type=_count, default=1000, help="items the user should have (default 1000)"
    )
    parser.add_argument("--seed", type=int, help="same data every time (default: a random seed, printed)")
    parser.add_argument("--reset", action="store_true", help="delete the user's buckets and items first")
    args = parser.parse_args(argv)
    # A random seed is still printed, so any run can be repeated exactly.
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    email, password = _checked_credentials(args.email, args.password)
    return Options(email, password, args.buckets, args.items, seed, args.reset)


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _checked_credentials(email: str, password: str) -> tuple[str, str]:
    """Refuse what the API's login would refuse: a user who cannot log in is no demo."""
    schemas = load_spec()["components"]["schemas"]
    email_rule, password_rule = schemas["Email"], schemas["Password"]
    if len(email) > email_rule["maxLength"] or not re.match(email_rule["pattern"], email):
        raise UsageError(f"--email {email!r} is not an email address the API accepts")
    if not password_rule["minLength"] <= len(password) <= password_rule["maxLength"]:
        raise UsageError(
            f"--password must have {password_rule['minLength']} to {password_rule['maxLength']} characters"
        )
    return normalise_email(email), password
