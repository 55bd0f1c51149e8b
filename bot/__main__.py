"""``python -m bot``: the same command line as ``online-bot``."""

from bot.cli import main

if __name__ == "__main__":
    main()
