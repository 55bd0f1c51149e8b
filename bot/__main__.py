"""``python -m bot``, and the ``online-bot`` command (pyproject.toml's entry point): the
command line of ``bot.cli``, imported only when it runs.

Importing this module loads nothing else of the bot: a process that ``multiprocessing``
spawns from a program started as ``online-bot`` imports the program's script first, and
so this module (the drawing process, ``bot.drawing``, stays at Pillow and the charts;
through ``bot.cli`` it would load click, pydantic and the settings: 53 MB instead of 35).
"""


def main() -> None:
    from bot.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
