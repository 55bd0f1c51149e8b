"""What the client's log says during a benchmark: 60007 answers, other error answers, retries."""

from __future__ import annotations

import logging
import threading
from collections import Counter


class ClientLogCounter(logging.Handler):
    """Counts the client's log records: 60007 answers (each attempt), other error answers
    (by message) and retries."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._lock_counts = threading.Lock()
        self.rate_limited = 0
        self.retries = 0
        self.other_errors: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        with self._lock_counts:
            if record.levelno == logging.INFO and ": error " in message:
                if "error 60007" in message:
                    self.rate_limited += 1
                else:
                    self.other_errors[message.split(" (")[0]] += 1
            elif message.startswith("Tencent call failed"):
                self.retries += 1

    def reset(self) -> None:
        with self._lock_counts:
            self.rate_limited = self.retries = 0
            self.other_errors.clear()
