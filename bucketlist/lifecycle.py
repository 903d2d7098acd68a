"""Process-wide state that the server and the health endpoints share."""

import threading

# Set when the process has been asked to stop: /readyz answers 503 from then on.
draining = threading.Event()
