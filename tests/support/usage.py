"""What every refused command must say, checked the same way in each grammar test."""

from __future__ import annotations

import pytest

from bot.commands.grammar import UsageError, parse


def assert_refused(text: str, fragment: str) -> None:
    """``parse(text)`` raises a UsageError that says ``fragment``, the right form and its
    problem, in a message short enough for Slack's ephemeral reply."""
    with pytest.raises(UsageError) as caught:
        parse(text)
    message = str(caught.value)
    assert fragment in message
    assert "Usage: /online" in message  # says what the right form is
    assert caught.value.problem in message
    assert len(message) < 600
