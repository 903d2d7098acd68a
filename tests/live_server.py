"""The live server the tests import as `live_server`: it lives in `tools/live_server.py`,
beside `tools/serverproc.py`, so that `tools/fuzz.py` uses it without importing tests."""

from tools.live_server import HOST, LiveServer, ServerError, free_port, live_server

__all__ = ["HOST", "LiveServer", "ServerError", "free_port", "live_server"]
