"""app_manifest.yml is a valid Slack app manifest and asks for exactly the scopes the bot uses.

The schema in tests/data is Slack's official app manifest schema, major version 1, copied from
slackapi/manifest-schema (schemas/manifest.schema.1.0.0.json at commit c50cfa8; MIT licence,
Copyright (c) Slack Technologies, LLC) so the test runs on a clean clone.
"""

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = ROOT / "app_manifest.yml"
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "slack-manifest.schema.1.0.0.json"

# Adding a scope is a conscious change: update this set and the comment beside the scope.
EXPECTED_BOT_SCOPES = {
    "commands",
    "chat:write",
    "files:write",
    "im:write",
    "usergroups:read",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "users:read",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))


def test_schema_is_a_draft_07_schema(schema: dict[str, Any]) -> None:
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft7Validator
    jsonschema.Draft7Validator.check_schema(schema)


def test_manifest_is_valid_against_the_schema(
    schema: dict[str, Any], manifest: dict[str, Any]
) -> None:
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )

    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]

    assert errors == []


def test_background_color_is_a_hex_colour(manifest: dict[str, Any]) -> None:
    # The schema states this pattern under a non-standard "regex" keyword, which no validator
    # enforces; Slack does.
    colour = manifest["display_information"]["background_color"]
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", colour)


def test_online_command_has_a_usage_hint(manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}

    assert set(commands) == {"/online"}
    online = commands["/online"]
    assert "Tencent Cloud Chat" in online["description"]
    assert online["usage_hint"].startswith("<groupId>")
    assert "watch" in online["usage_hint"]
    assert online["should_escape"] is False


def test_bot_user_is_online_bot(manifest: dict[str, Any]) -> None:
    assert manifest["display_information"]["name"] == "online-bot"
    assert manifest["features"]["bot_user"] == {"display_name": "online-bot", "always_online": True}


def test_settings_for_socket_mode_with_buttons(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]

    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    # In Socket Mode Slack sends nothing to request URLs; HTTP mode's are in the comments.
    assert "request_url" not in settings["interactivity"]
    assert all("url" not in c for c in manifest["features"]["slash_commands"])


def test_bot_scopes_are_exactly_the_expected_ones(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]

    assert set(scopes) == {"bot"}
    assert len(scopes["bot"]) == len(set(scopes["bot"]))
    assert set(scopes["bot"]) == EXPECTED_BOT_SCOPES


def test_an_alert_can_be_looked_for_in_every_kind_of_conversation(
    manifest: dict[str, Any],
) -> None:
    # Before posting again, the outbox reads the conversation's history for the message:
    # public and private channels, DMs and group DMs each need their own scope.
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])

    assert {f"{kind}:history" for kind in ("channels", "groups", "im", "mpim")} <= scopes


def test_every_scope_says_why_it_is_needed() -> None:
    lines = MANIFEST_PATH.read_text(encoding="utf-8").splitlines()
    explained = {
        match["scope"]
        for line in lines
        if (match := re.fullmatch(r"\s*-\s*(?P<scope>[a-z:._]+)\s+#\s*\S.*", line))
    }

    assert EXPECTED_BOT_SCOPES - explained == set()


def test_a_history_chart_can_be_drawn_in_the_reader_s_time_zone(
    manifest: dict[str, Any],
) -> None:
    # users.info, for the tz a chart's times are shown in, needs users:read; the chart
    # itself is a file like the member list's CSV.
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])

    assert {"users:read", "files:write", "im:write"} <= scopes
    assert "history" in manifest["features"]["slash_commands"][0]["usage_hint"]


def test_the_http_mode_variant_in_the_comments_is_valid_too(
    schema: dict[str, Any], manifest: dict[str, Any]
) -> None:
    http = json.loads(json.dumps(manifest))
    http["settings"]["socket_mode_enabled"] = False
    http["settings"]["interactivity"]["request_url"] = "https://YOUR-HOST/slack/events"
    http["settings"]["event_subscriptions"]["request_url"] = "https://YOUR-HOST/slack/events"
    for command in http["features"]["slash_commands"]:
        command["url"] = "https://YOUR-HOST/slack/events"

    jsonschema.Draft7Validator(schema).validate(http)
    assert "url: https://YOUR-HOST/slack/events" in MANIFEST_PATH.read_text(encoding="utf-8")


def test_the_app_home_is_enabled_and_opened_events_subscribed(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["bot_events"] == ["app_home_opened"]
    # In Socket Mode events come over the socket; HTTP mode's URL is in the comments.
    assert "request_url" not in events
    header = MANIFEST_PATH.read_text(encoding="utf-8").split("display_information:")[0]
    assert "settings.event_subscriptions" in header and "app_home_opened" in header
