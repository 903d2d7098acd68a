"""Bucketlist: a spec-first REST API for bucket lists."""

import warnings

# connexion imports starlette's TestClient at import time, which warns about httpx on
# every start of every worker; the warning concerns test tooling, not the service.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from .app import create_app  # noqa: E402

__all__ = ["create_app"]
