"""Where charts are drawn (bot/drawing.py): in this thread, or in a drawing process that
is started with the first chart, replaced after a crash or a timeout, and stopped with
the bot."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.waiting import wait_until

from bot import drawing
from bot.drawing import ChartDrawer, DrawingFailed, draw_here
from bot.render.charts import UTC_ZONE, Chart, Panel, Point, Span, Threshold

T = 1_700_000_000.0
CHART = Chart((Panel("@TGS#live", (Point(T - 60, 5), Point(T, 7))),), T - 3600, T, UTC_ZONE, "")


@pytest.fixture
def drawer() -> Iterator[ChartDrawer]:
    made = ChartDrawer()
    yield made
    made.close()


def drawing_processes() -> list[multiprocessing.process.BaseProcess]:
    return multiprocessing.active_children()


def test_a_renderer_bug_is_drawing_failed_with_a_reference_and_the_next_chart_draws(
    monkeypatch, caplog
):
    def broken(_: Chart) -> bytes:
        raise ValueError("no font")

    monkeypatch.setattr(drawing, "render_png", broken)
    with pytest.raises(DrawingFailed, match=r"something went wrong inside the bot, ref \w{6}"):
        draw_here(CHART)
    assert "unexpected failure drawing a chart" in caplog.text and "no font" in caplog.text
    monkeypatch.undo()
    assert draw_here(CHART).startswith(b"\x89PNG")


def test_a_bot_draws_apart_without_pillow_and_its_drawing_process_ends_when_it_is_killed(
    tmp_path,
):
    script = tmp_path / "a_bot.py"  # a program's script, as online-bot's: spawn imports it
    script.write_text(
        textwrap.dedent(
            f"""
            import multiprocessing, sys, time
            from bot.drawing import ChartDrawer
            from bot.render.charts import UTC_ZONE, Chart, Panel, Point, render_png
            if __name__ == "__main__":
                chart = Chart((Panel("@TGS#live", (Point({T - 60}, 5), Point({T}, 7))),),
                              {T - 3600}, {T}, UTC_ZONE, "")
                drawer = ChartDrawer()
                apart = drawer.png(chart)
                print("PIL" in sys.modules, "fontTools" in sys.modules)
                print(apart == render_png(chart), apart[:4] == b"\\x89PNG")
                print(multiprocessing.active_children()[0].pid, flush=True)
                time.sleep(120)
            """
        )
    )
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as bot:
        try:
            assert bot.stdout is not None and bot.stderr is not None
            said = [bot.stdout.readline().split() for _ in range(3)]
        finally:
            bot.kill()  # -9: the bot closes nothing
        errors = bot.stderr.read()
    assert said[:2] == [["False", "False"], ["True", "True"]], errors  # Pillow loaded apart
    child = int(said[2][0])

    def gone() -> bool:
        try:
            return Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"
        except FileNotFoundError:
            return True

    wait_until(gone, timeout=10, what="the drawing process to end")


def test_the_drawing_process_ignores_ctrl_c_is_replaced_when_killed_and_stops_on_close():
    drawer = ChartDrawer()
    first = drawer.png(CHART)
    (process,) = drawing_processes()
    os.kill(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the process group
    process.join(1.0)  # time for it to die of KeyboardInterrupt, were it not ignored
    assert process.is_alive()
    assert drawer.png(CHART) == first and drawing_processes() == [process]

    process.kill()
    process.join()
    assert drawer.png(CHART) == first  # drawn again, in a new process
    (replacement,) = drawing_processes()
    assert replacement.pid != process.pid

    drawer.close()
    assert drawing_processes() == []
    with pytest.raises(DrawingFailed, match="the bot is stopping"):
        drawer.png(CHART)


def test_a_drawing_that_takes_too_long_fails_and_its_process_is_replaced(drawer):
    drawer.timeout = 0.001  # less than starting the process takes
    with pytest.raises(DrawingFailed, match=r"drawing took more than 0\.001 s"):
        drawer.png(CHART)
    drawer.timeout = 60
    assert drawer.png(CHART).startswith(b"\x89PNG")
    assert len(drawing_processes()) == 1  # the slow one was killed


def test_a_chart_goes_to_the_drawing_process_and_back_as_it_was():
    points = tuple(Point(T + 60.0 * i, None if i % 7 == 3 else i) for i in range(1440))
    panel = Panel(
        "@TGS#live", points, (Threshold("#1 below 100", 100, "below"),), (Span(T),), "Live"
    )
    chart = Chart((panel,), T, T + 86_400, ZoneInfo("Asia/Tokyo"), "a day")
    back = pickle.loads(pickle.dumps(chart, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == chart
    assert all(type(p) is Point for p in back.panels[0].points)


def test_the_online_bot_command_loads_nothing_the_drawing_process_would_import_again():
    """A process spawned from ``online-bot`` first imports the command's script, and so
    its entry point's module: that module must load nothing else of the bot."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["online-bot"] == "bot.__main__:main"
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.__main__; print(*sorted(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert [m for m in loaded if m.split(".")[0] == "bot"] == ["bot", "bot.__main__"]
