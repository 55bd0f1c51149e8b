"""Where charts are drawn: in the caller's thread, or in a drawing process of the bot's.

Both are a ``Draw`` (``Chart -> PNG bytes``, ``bot.render.charts.render_png`` underneath)
that raises DrawingFailed, with the reason, when the chart cannot be had:

- ``draw_here``: in the caller's thread. For the shell, the command line and tests: one
  reader at a time.
- ``ChartDrawer().png``: in one process of its own, started with the first chart (the
  bot starts without Pillow) and kept for the next, replaced after a crash or a timeout.
  ``online-bot run`` draws there: a chart is 15-20 ms of CPU, and a burst of
  ``/online history`` (a channel after an alert) drawn in the bot's own process holds
  its interpreter lock for all of it, so acknowledgements, checks and alert messages
  wait behind the drawing. Apart, the bot's process only reads and uploads; the
  drawing runs beside it on another CPU, one chart at a time, in the order asked.

A chart goes to the process pickled (a day of 1-minute samples: about 40 KB) and the
PNG (about 30 KB) comes back.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess

from bot.logs import log_unexpected
from bot.render.charts import Chart, render_png

log = logging.getLogger(__name__)

__all__ = ["DRAW_TIMEOUT", "ChartDrawer", "Draw", "DrawingFailed", "draw_here"]

#: Chart -> PNG bytes; DrawingFailed when it cannot be drawn.
Draw = Callable[[Chart], bytes]

#: The longest a chart may take, from asking: starting the process (the first chart),
#: the charts asked before it, and its own drawing.
DRAW_TIMEOUT = 60.0


class DrawingFailed(Exception):
    """A chart could not be drawn; the message says why (the log has the details)."""


def draw_here(chart: Chart) -> bytes:
    """``chart`` as PNG, drawn in this thread."""
    try:
        return render_png(chart)
    except Exception as error:
        raise _unexpected() from error


def _unexpected() -> DrawingFailed:
    """The drawing's own failure (a bug): logged with its traceback and a reference."""
    ref = log_unexpected(log, "unexpected failure drawing a chart")
    return DrawingFailed(f"something went wrong inside the bot, ref {ref}")


def _drawing_process() -> None:
    """The drawing process's start. Ctrl-C in a terminal reaches the whole process group,
    and stopping is the bot's to do (``close``), not a traceback of the drawing's. And
    it ends with the bot, however the bot ends: killed (-9, out of memory), it closes
    nothing, and the process would wait for charts forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: BaseProcess) -> None:
    multiprocessing.connection.wait([parent.sentinel])
    os._exit(0)


class ChartDrawer:
    """Draws charts in a process of its own (module doc); ``png`` may be called from any
    thread. ``close()`` stops the process."""

    def __init__(self, *, timeout: float = DRAW_TIMEOUT) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def png(self, chart: Chart) -> bytes:
        """``chart`` as PNG, drawn in the drawing process; drawn again in a new process,
        once, if that one stopped (killed, out of memory) or was replaced before answering."""
        for _ in range(2):
            pool = self._executor()
            try:
                return pool.submit(render_png, chart).result(timeout=self.timeout)
            except FutureTimeout:
                self._discard(pool)  # a new process for the next chart: this one may be stuck
                raise DrawingFailed(f"drawing took more than {self.timeout:g} s") from None
            except (BrokenProcessPool, CancelledError):
                self._discard(pool)
                log.warning("the drawing process stopped before drawing a chart")
            except RuntimeError as error:
                if not self._replaced(pool):  # else it refused the chart: closed meanwhile
                    raise _unexpected() from error
            except Exception as error:  # raised by the drawing, sent back with its traceback
                raise _unexpected() from error
        raise DrawingFailed("the drawing process stopped before drawing it")

    def close(self) -> None:
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise DrawingFailed("the bot is stopping")
            if self._pool is None:
                spawn = multiprocessing.get_context("spawn")  # never fork a threaded process
                self._pool = ProcessPoolExecutor(1, mp_context=spawn, initializer=_drawing_process)
            return self._pool

    def _replaced(self, pool: ProcessPoolExecutor) -> bool:
        with self._lock:
            return self._pool is not pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        # A stuck drawing would live on: its process is killed (no public way before
        # Python 3.14's kill_workers), which fails the charts queued behind it.
        processes = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
