"""The HTTP gate's pure checks: Slack's v0 signature over the raw bytes, and bodies bolt
can read. End to end (real HTTP into waitress) in test_slack_http.py."""

import json
from urllib.parse import urlencode

import pytest
from support.slackapp import SIGNING_SECRET, sign

from bot.slack.gate import MAX_AGE_SECONDS, Malformed, Unsigned, bolt_request, verify

NOW = 1_700_000_000
BODY = b"command=%2Fonline&text=help"


def test_a_signed_recent_request_passes():
    verify(BODY, str(NOW), sign(BODY, NOW), SIGNING_SECRET, now=NOW)
    verify(BODY, str(NOW), sign(BODY, NOW), SIGNING_SECRET, now=NOW + MAX_AGE_SECONDS)
    verify(b"\xff\xfe", str(NOW), sign(b"\xff\xfe", NOW), SIGNING_SECRET, now=NOW)


@pytest.mark.parametrize(
    ("body", "timestamp", "signature", "now"),
    [
        pytest.param(BODY, str(NOW), sign(BODY, NOW), NOW + MAX_AGE_SECONDS + 1, id="stale"),
        pytest.param(BODY, str(NOW), sign(BODY, NOW), NOW - MAX_AGE_SECONDS - 1, id="future"),
        pytest.param(BODY, str(NOW), sign(BODY, NOW, "other"), NOW, id="other-secret"),
        pytest.param(BODY + b"&x=1", str(NOW), sign(BODY, NOW), NOW, id="body-changed"),
        pytest.param(BODY, None, sign(BODY, NOW), NOW, id="no-timestamp"),
        pytest.param(BODY, "", sign(BODY, NOW), NOW, id="empty-timestamp"),
        pytest.param(BODY, "17e8", sign(BODY, NOW), NOW, id="timestamp-not-digits"),
        pytest.param(BODY, "\u0661\u0667", sign(BODY, NOW), NOW, id="timestamp-arabic-digits"),
        pytest.param(BODY, str(NOW), None, NOW, id="no-signature"),
        pytest.param(BODY, str(NOW), "v0=é", NOW, id="signature-not-ascii"),
    ],
)
def test_unsigned(body, timestamp, signature, now):
    with pytest.raises(Unsigned) as refused:
        verify(body, timestamp, signature, SIGNING_SECRET, now=now)
    assert refused.value.status == 401


def test_no_secret_no_check():
    with pytest.raises(ValueError):
        verify(BODY, str(NOW), sign(BODY, NOW, ""), "", now=NOW)


FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def _payload(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b"payload=notjson", FORM, id="payload-not-json"),
        pytest.param(_payload([1]), FORM, id="payload-a-list"),
        pytest.param(b"[1]", JSON, id="json-a-list"),
        pytest.param(b"{", JSON, id="json-cut"),
        pytest.param(b"\xff", FORM, id="not-utf-8"),
        pytest.param(_payload({"type": "block_actions"}), FORM, id="press-no-actions"),
        pytest.param(_payload({"type": "block_actions", "actions": []}), FORM, id="press-empty"),
        pytest.param(
            _payload({"type": "block_actions", "actions": [{"action_id": 5}]}),
            FORM,
            id="press-action-id-a-number",
        ),
        pytest.param(
            _payload({"type": "interactive_message", "actions": ["x"]}), FORM, id="attachment"
        ),
        pytest.param(b'{"type": "event_callback"}', JSON, id="event-missing"),
        pytest.param(b'{"type": "shortcut", "view": null}', JSON, id="view-null"),
    ],
)
def test_malformed(body, headers):
    with pytest.raises(Malformed) as refused:
        bolt_request(body, "", headers)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(BODY, FORM, id="slash-command"),
        pytest.param(b"", FORM, id="empty"),
        pytest.param(
            _payload(
                {
                    "type": "block_actions",
                    "user": {"id": "U1"},
                    "actions": [{"action_id": "online_next_page", "value": "x"}],
                }
            ),
            FORM,
            id="button-press",
        ),
        pytest.param(
            b'{"type": "event_callback", "event": {"type": "app_mention"}}', JSON, id="event"
        ),
        pytest.param(b'{"type": "url_verification", "challenge": "c"}', JSON, id="url-check"),
    ],
)
def test_what_slack_sends_reaches_bolt(body, headers):
    request = bolt_request(body, "", headers)
    assert isinstance(request.body, dict)
