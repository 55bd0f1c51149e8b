"""Checks of Block Kit messages and views shared by the render tests: Slack's limits,
live markup."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.render.blocks import Message

__all__ = [
    "assert_view_within_limits",
    "assert_within_limits",
    "buttons",
    "mrkdwn",
    "no_live_markup",
    "text_objects",
]


def text_objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            return [node]
        return [o for value in node.values() for o in text_objects(value)]
    if isinstance(node, list):
        return [o for item in node for o in text_objects(item)]
    return []


def mrkdwn(message: Message) -> str:
    return "\n".join(o["text"] for o in text_objects(message.blocks) if o["type"] == "mrkdwn")


def buttons(message: Message) -> dict[str, dict[str, Any]]:
    return {
        element["action_id"]: element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


def no_live_markup(text: str) -> None:
    """Only date tokens, user mentions and channel links may be live markup."""
    for token in re.findall(r"<[^<>]*>", text):
        assert re.fullmatch(r"<!date\^[0-9]+\^[^<>]*>|<@[UW][A-Z0-9]+>|<#C[A-Z0-9]+>", token), token


def assert_within_limits(message: Message) -> None:
    blocks = message.blocks
    assert 1 <= len(blocks) <= 50
    _assert_blocks_within_limits(blocks)
    assert sum(len(o["text"]) for o in text_objects(blocks)) <= 10_000
    assert 1 <= len(message.text) <= 4000
    no_live_markup(mrkdwn(message))
    no_live_markup(message.text)


def assert_view_within_limits(view: dict[str, Any]) -> None:
    """A Home tab or a modal: at most 100 blocks, each within its limits; no live markup
    but dates, user mentions and channel links."""
    blocks = view["blocks"]
    assert view["type"] in ("home", "modal")
    assert 1 <= len(blocks) <= 100
    assert len(view.get("private_metadata", "")) <= 3000
    _assert_blocks_within_limits(blocks)
    ids = [block["block_id"] for block in blocks if "block_id" in block]
    assert len(ids) == len(set(ids)), "block_ids are unique in a view"
    no_live_markup("\n".join(o["text"] for o in text_objects(blocks) if o["type"] == "mrkdwn"))


def _assert_blocks_within_limits(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 1 <= len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            for field in block.get("fields", []):
                assert 1 <= len(field["text"]) <= 2000
        if block["type"] == "header":
            assert 1 <= len(block["text"]["text"]) <= 150
            assert block["text"]["type"] == "plain_text"
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        if block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= 75
                assert len(button["value"]) <= 2000
                if "confirm" in button:
                    confirm = button["confirm"]
                    assert len(confirm["title"]["text"]) <= 100
                    assert len(confirm["text"]["text"]) <= 300
                    assert confirm["text"]["type"] == "plain_text"
                    assert len(confirm["confirm"]["text"]) <= 30
                    assert len(confirm["deny"]["text"]) <= 30
            ids = [button["action_id"] for button in block["elements"]]
            assert len(ids) == len(set(ids)), "action_ids are unique in a block"
        if block["type"] == "input":
            assert 1 <= len(block["label"]["text"]) <= 2000
            assert len(block.get("hint", {}).get("text", "")) <= 2000
            assert len(block["element"].get("placeholder", {}).get("text", "")) <= 150
    assert json.loads(json.dumps(blocks)) == blocks
    for node in text_objects(blocks):
        if node["type"] == "mrkdwn":
            assert node.get("verbatim") is True
