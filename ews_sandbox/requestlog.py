"""The request log the admin API serves: one entry per HTTP request, oldest first."""
import threading
import time
from collections import deque

MAX_ENTRIES = 200_000


class RequestLog:
    def __init__(self):
        self._entries = deque(maxlen=MAX_ENTRIES)
        self._lock = threading.Lock()

    def add(self, operation, status, request_bytes, response_bytes, started, mailbox=None, user=None):
        entry = {
            "operation": operation, "status": status, "request_bytes": request_bytes,
            "response_bytes": response_bytes, "ms": round((time.perf_counter() - started) * 1000, 3),
            "mailbox": mailbox, "user": user, "time": time.time(),
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self):
        with self._lock:
            return list(self._entries)

    def clear(self):
        with self._lock:
            self._entries.clear()
