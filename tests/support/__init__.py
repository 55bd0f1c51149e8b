"""What the tests and the benchmarks share, imported as ``support.x`` (tests/ is on the path:
pytest puts it there; a benchmark inserts it):

- fakeslack: a fake Slack Web API over loopback HTTP (the ``fake_slack`` fixture);
- slackapp: a running HTTP-mode Slack app and signed requests to it;
- processes: a free port, the controlled environment, ``python -m bot run`` in the background
  until it serves, the simulator's process (no pytest, no pydantic at import);
- procstat: a process's CPU seconds and memory from /proc (the benchmarks' figures);
- replicas: several ``run`` replicas side by side (the replica tests and bench_replicas);
- waiting: `wait_until`, bounded polling of something observable (never a bare sleep);
- databases: a database of its own per test, on SQLite and PostgreSQL, copied from a
  template at head (on PostgreSQL, one per test process, emptied for each test);
- benchdb: the benchmarks' scratch database and their watches, bulk-inserted (no pytest);
- alerting: the alerting services over one database (the ``sim`` and ``env`` fixtures);
- blockkit: checks of Block Kit messages (Slack's limits, no live markup);
- usage: what every refused command must say (the grammar tests).

Fixtures live in conftest.py (and in alerting, a plugin conftest.py registers).
"""

import sys

# Compiled modules are cached (__pycache__, ignored by git) even where the environment says
# PYTHONDONTWRITEBYTECODE=1: otherwise every pytest worker compiles and assertion-rewrites
# every test module again (4-8 s of CPU each, 4 workers per run), and every ``python -m bot``
# a test starts compiles the bot. conftest.py imports this package before the bot.
sys.dont_write_bytecode = False
