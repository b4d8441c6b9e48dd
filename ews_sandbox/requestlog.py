"""The request log the admin API serves: one entry per HTTP request, oldest first.

Who and what: `user` is whoever signed in (an email, or `app:<client id>` for an app
token); `mailboxes` the mailboxes the request opened, each once, in the order it opened
them (bob's, when alice reads bob's inbox by delegation; the impersonated one under
impersonation); `mailbox` the first of those, or the mailbox the request acted for when
it opened none (ResolveNames, a refused request)."""
import threading
import time
from collections import deque

MAX_ENTRIES = 200_000


class RequestLog:
    def __init__(self):
        self._entries = deque(maxlen=MAX_ENTRIES)
        self._lock = threading.Lock()

    def add(self, operation, status, request_bytes, response_bytes, started, mailbox=None, user=None, mailboxes=()):
        entry = {
            "operation": operation, "status": status, "request_bytes": request_bytes,
            "response_bytes": response_bytes, "ms": round((time.perf_counter() - started) * 1000, 3),
            "mailbox": (list(mailboxes) or [mailbox])[0], "user": user, "mailboxes": list(mailboxes),
            "time": time.time(),
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self):
        with self._lock:
            return list(self._entries)

    def clear(self):
        with self._lock:
            self._entries.clear()
