"""The package as pip installs it from a wheel: every package listed, the migrations and the
charts' fonts inside."""

import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

from bot.store.db import head_revision

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_of_bot_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    inits = (ROOT / "bot").rglob("__init__.py")
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in inits}
    assert found - listed == set()
    assert {"bot.migrations", "bot.migrations.versions"} <= listed


def _run(*args: str, **kwargs) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=110, **kwargs)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_wheel_install_migrates_a_database(tmp_path):
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("bot", "migrations"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = (sys.executable, "-m", "pip")
    _run(*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(source))
    (wheel,) = wheels.glob("*.whl")
    _run(*pip, "install", "-q", "--no-deps", "--target", str(site), str(wheel))

    # one process from the installed wheel: it migrates a database, then draws a chart
    database = tmp_path / "bot.db"
    code = (
        "import bot, bot.store.db as db; "
        f"db.upgrade('sqlite:///{database}'); print(bot.__file__); print(db.MIGRATIONS_DIR); "
        "from bot.render import chart_raster; from bot.render.charts import *; "
        "png = render_png(Chart((Panel('@TGS#x', (Point(0, 1), Point(60, 2))),), 0, 120)); "
        "print(png[:8] == b'\\x89PNG\\r\\n\\x1a\\n'); "
        "print(chart_raster.font_runs('Live', bold=True)[0][0][0])"
    )
    shown = _run(
        sys.executable, "-c", code, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}
    ).split()
    assert shown[:2] == [str(site / "bot" / "__init__.py"), str(site / "bot" / "migrations")]
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head_revision()

    fonts = site / "bot" / "render" / "fonts"
    assert sorted(p.name for p in fonts.iterdir()) == [
        "DejaVuSans-Bold.ttf",
        "DejaVuSans.ttf",
        "LICENSE_DEJAVU",
    ]
    assert shown[2:] == ["True", str(fonts / "DejaVuSans-Bold.ttf")]
