import pytest

from bot.tencent import errors
from bot.tencent.errors import CODES, api_error

SPEC_CODES = [
    10001,
    10002,
    10003,
    10004,
    10006,
    10007,
    10010,
    10015,
    10019,
    60002,
    60003,
    60004,
    60005,
    60006,
    60007,
    60008,
    60009,
    60010,
    60011,
    60012,
    60013,
    60014,
    60015,
    60016,
    60017,
    60018,
    60019,
    60020,
    60021,
    70001,
    70003,
    70009,
    70013,
    70014,
    70016,
    70020,
    70050,
    70051,
    70107,
]
RETRYABLE = {10002, 10006, 60007, 60008, 60011, 60013, 60014, 60018, 60019}


def test_every_spec_code_is_known():
    assert set(SPEC_CODES) <= set(CODES)


@pytest.mark.parametrize("code", SPEC_CODES)
def test_retry_decided_by_code(code):
    error = api_error(code, "info", "req-1")
    assert error.retryable == (code in RETRYABLE)
    assert error.code == code
    assert error.request_id == "req-1"
    assert error.user_message.endswith(".")
    assert str(code) in str(error) and "req-1" in str(error)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (10007, errors.NotAudioVideoGroup),
        (10010, errors.GroupNotFound),
        (10015, errors.InvalidGroupId),
        (70009, errors.CredentialsError),
        (60007, errors.BusyError),
        (10002, errors.ServerError),
        (10004, errors.RequestError),
    ],
)
def test_codes_map_to_their_kind(code, kind):
    assert isinstance(api_error(code), kind)


def test_invalid_parameter_carries_error_info():
    assert "GroupId is required" in api_error(10004, "GroupId is required").user_message


def test_unknown_code_still_explains():
    error = api_error(99999, "something odd")
    assert type(error) is errors.ApiError
    assert not error.retryable
    assert "99999" in error.user_message and "something odd" in error.user_message


def test_too_many_signature_failures_says_the_signature_is_wrong():
    error = api_error(70050)
    assert isinstance(error, errors.CredentialsError)
    assert not error.retryable and error.retry_after == 0.0
    assert "signature is wrong" in error.user_message
    assert "TENCENT_IM_SECRET_KEY" in error.user_message
    assert "TENCENT_IM_SDKAPPID" in error.user_message


def test_admin_never_imported_says_what_to_create():
    error = api_error(70107)
    assert isinstance(error, errors.CredentialsError) and not error.retryable
    assert "TENCENT_IM_ADMIN" in error.user_message
    assert "App admin" in error.user_message and "Chat console" in error.user_message


def test_the_sentence_users_see_names_tencents_code():
    error = api_error(10010)
    assert error.code_phrase == "Tencent error 10010"
    assert error.sentence == f"{error.user_message} (Tencent error 10010)"
    assert "[Tencent error 10010" in str(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidInput("The group ID is empty."),
        errors.TransportError("Tencent did not answer in time; try again."),
        errors.Throttled("Too busy."),
    ],
)
def test_an_error_without_a_code_is_its_own_sentence(error):
    assert error.code_phrase == ""
    assert error.sentence == error.user_message
