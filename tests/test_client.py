"""The Tencent client over real loopback HTTP against the simulator."""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.simulator import Faults, Scenario, Simulator
from bot.tencent import answers, errors
from bot.tencent.client import EMPTY_PAGES_LIMIT, RetryPolicy, TencentClient
from bot.tencent.models import Member, Partial
from bot.tencent.ratelimit import RateLimits

PAGE = 25


def make_client(sim, **overrides):
    args = {
        "sdkappid": sim.scenario.sdkappid,
        "secret_key": sim.scenario.secret_key,
        "admin": sim.scenario.admin,
        "base_url": sim.url,
        "rate_limits": RateLimits(sim.scenario.rate_limit),
        "retry": RetryPolicy(attempts=4, deadline=10, initial_wait=0.01, max_wait=0.05),
    }
    args.update(overrides)
    return TencentClient(**args)


def members(n, prefix="user"):
    return [Member(f"{prefix}{i:05d}", f"Nick {i}", "", 1_700_000_000 + i) for i in range(n)]


@pytest.fixture
def sim():
    scenario = Scenario(page_size=PAGE, cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as running:
        running.add_group("@TGS#g", "Group G", "AVChatRoom")
        running.add_group("@TGS#public", "Team chat", "Public")
        yield running


@pytest.fixture
def client(sim):
    with make_client(sim) as c:
        yield c


@pytest.mark.parametrize("size", [0, 1, PAGE, PAGE + 1, 1000, 2500])
def test_every_page_followed(sim, client, size):
    sim.set_members("@TGS#g", members(size))
    result = client.online_members("@TGS#g")
    expected = min(size, 1000)
    assert len(result.members) == expected
    assert len({m.account for m in result.members}) == expected
    assert result.pages == max(1, -(-expected // PAGE))
    assert result.capped == (size >= 1000)
    assert not result.edition_limited
    assert client.online_count("@TGS#g") == size


def test_mark_filter(sim, client):
    everyone = members(40)
    marked = {m.account: {1000} for m in everyone[::4]}
    sim.set_members("@TGS#g", everyone, marks=marked)
    result = client.online_members("@TGS#g", mark=1000)
    assert {m.account for m in result.members} == set(marked)
    assert result.mark == 1000


def test_lower_edition_flagged():
    scenario = Scenario(edition="lower", cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as sim, make_client(sim) as client:
        sim.add_group("@TGS#g", "G", "AVChatRoom")
        sim.set_members("@TGS#g", members(300))
        result = client.online_members("@TGS#g")
        assert len(result.members) == 30
        assert result.edition_limited and not result.capped
        sim.set_members("@TGS#g", members(29))
        assert not client.online_members("@TGS#g").edition_limited


def test_duplicates_across_pages_dropped(scripted):
    # A member who moves between pages while we page (a join shifts the list) comes twice.
    page1 = [_raw(f"u{i}") for i in range(5)]
    page2 = [_raw("u3"), _raw("u4"), _raw("u5"), _raw("u6")]
    scripted.pages = [(page1, 123456789), (page2, 0)]
    with scripted_client(scripted) as client:
        result = client.online_members("@TGS#x")
    assert [m.account for m in result.members] == ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]
    assert result.pages == 2
    assert scripted.timestamps == [0, 123456789]


def _raw(account):
    return {"Member_Account": account, "NickName": account, "Avatar": "", "JoinTime": 1}


class _Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        script = self.server.script
        script.timestamps.append(body.get("Timestamp"))
        if script.answers:  # a whole answer, as given
            answer = script.answers.pop(0) if len(script.answers) > 1 else script.answers[0]
        else:
            members, cursor = script.pages.pop(0)
            answer = {
                "ActionStatus": "OK",
                "ErrorCode": 0,
                "MemberList": members,
                "NextTimestamp": cursor,
            }
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.daemon_threads = True
    server.script = SimpleNamespace(pages=[], answers=[], timestamps=[], url="")
    server.script.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.script
    server.shutdown()
    server.server_close()


#: Two attempts, at once: enough to see that an answer is retried, without waiting.
QUICK_RETRY = RetryPolicy(attempts=2, deadline=5, initial_wait=0.01, max_wait=0.01)


def scripted_client(script, retry: RetryPolicy | None = None) -> TencentClient:
    """A client for the scripted server (its answers are set per test)."""
    return TencentClient(
        sdkappid=1,
        secret_key="k",
        base_url=script.url,
        rate_limits=RateLimits(100),
        retry=retry or RetryPolicy(),
    )


def test_endless_cursor_keeps_the_first_page_flagged_partial(sim, client):
    sim.set_members("@TGS#g", members(50))
    sim.inject_cursor_loop("@TGS#g")
    result = client.online_members("@TGS#g")
    assert result.partial is Partial.REPEATED_CURSOR
    assert len(result.members) == PAGE and result.pages == 2
    assert sim.stats().get_members.calls == 2


def test_repeated_cursor_keeps_the_pages_gathered(sim, client):
    sim.set_members("@TGS#g", members(4 * PAGE))
    sim.set_faults(Faults(repeated_cursor_rate=1.0))
    result = client.online_members("@TGS#g")
    assert result.partial is Partial.REPEATED_CURSOR
    assert [m.account for m in result.members] == [f"user{i:05d}" for i in range(99, 49, -1)]
    assert result.pages == 2
    assert not result.capped


def test_empty_pages_with_a_cursor_end_the_walk_with_what_it_has(sim, client):
    sim.set_members("@TGS#g", members(4 * PAGE))
    sim.set_faults(Faults(empty_page_rate=1.0))
    result = client.online_members("@TGS#g")
    assert result.partial is Partial.EMPTY_PAGES
    assert len(result.members) == PAGE
    assert result.pages == 1 + EMPTY_PAGES_LIMIT
    assert sim.stats().get_members.calls == 1 + EMPTY_PAGES_LIMIT


def test_one_empty_page_with_a_cursor_is_passed_over(scripted):
    scripted.pages = [([_raw("u0"), _raw("u1")], 11), ([], 22), ([_raw("u2")], 0)]
    with scripted_client(scripted) as client:
        result = client.online_members("@TGS#x")
    assert [m.account for m in result.members] == ["u0", "u1", "u2"]
    assert result.partial is None and result.pages == 3


def test_page_bound_keeps_what_it_has(sim):
    sim.set_members("@TGS#g", members(4 * PAGE))
    with make_client(sim, max_pages=3) as client:
        result = client.online_members("@TGS#g")
    assert result.partial is Partial.PAGE_LIMIT
    assert len(result.members) == 3 * PAGE and result.pages == 3


# -- a missing field is never zero -------------------------------------------------------


def test_count_answer_without_its_field_is_retried(sim, client):
    sim.set_members("@TGS#g", members(3))
    sim.inject_missing_fields("get_online_member_num", times=1)
    assert client.online_count("@TGS#g") == 3
    stats = sim.stats().get_online_member_num
    assert (stats.calls, stats.malformed, stats.ok) == (2, 1, 1)


def test_count_answer_that_keeps_missing_its_field_is_an_error_not_zero(sim, client):
    sim.set_members("@TGS#g", members(3))
    sim.inject_missing_fields("get_online_member_num", times=10)
    with pytest.raises(errors.TransportError, match="OnlineMemberNum") as caught:
        client.online_count("@TGS#g")
    assert caught.value.retryable
    assert sim.stats().get_online_member_num.calls == 4  # retried like any malformed answer


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""},
        {"ActionStatus": "OK", "ErrorCode": 0, "OnlineMemberNum": None},
        {"ActionStatus": "OK", "ErrorCode": 0, "OnlineMemberNum": "12"},
        {"ActionStatus": "OK", "ErrorCode": 0, "OnlineMemberNum": True},
        {"ActionStatus": "OK", "ErrorCode": 0, "OnlineMemberNum": -1},
        {"ErrorCode": 0, "OnlineMemberNum": 12},
        {"ActionStatus": "OK", "OnlineMemberNum": 12},
    ],
)
def test_count_answers_without_an_integer_count_are_malformed(scripted, answer):
    scripted.answers = [answer]
    with (
        scripted_client(scripted, QUICK_RETRY) as client,
        pytest.raises(errors.TransportError),
    ):
        client.online_count("@TGS#x")
    assert len(scripted.timestamps) == 2


def test_members_page_without_its_list_is_an_error_not_an_empty_group(sim, client):
    sim.set_members("@TGS#g", members(3))
    sim.inject_missing_fields("get_members", times=10)
    with pytest.raises(errors.TransportError, match="MemberList"):
        client.online_members("@TGS#g")
    assert sim.stats().get_members.calls == 4


@pytest.mark.parametrize(
    "answer",
    [
        {"ActionStatus": "OK", "ErrorCode": 0, "NextTimestamp": 0},
        {"ActionStatus": "OK", "ErrorCode": 0, "MemberList": {}, "NextTimestamp": 0},
        {"ActionStatus": "OK", "ErrorCode": 0, "MemberList": [_raw("u0")]},
        {"ActionStatus": "OK", "ErrorCode": 0, "MemberList": [], "NextTimestamp": "0"},
    ],
)
def test_members_pages_without_list_or_cursor_are_malformed(scripted, answer):
    scripted.answers = [answer]
    with (
        scripted_client(scripted, QUICK_RETRY) as client,
        pytest.raises(errors.TransportError, match="member list page had no"),
    ):
        client.online_members("@TGS#x")


def _members_by_the_book(raw):
    """A page's members read field by field: an entry without an account is skipped; a
    nickname or avatar that is missing or empty is "", another value its text; a JoinTime
    that is not a JSON integer is 0."""
    found = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("Member_Account"):
            continue
        join_time = item.get("JoinTime")
        is_int = isinstance(join_time, int) and not isinstance(join_time, bool)
        found.append(
            Member(
                account=str(item["Member_Account"]),
                nickname=str(item.get("NickName") or ""),
                avatar=str(item.get("Avatar") or ""),
                join_time=join_time if is_int else 0,
            )
        )
    return found


_JSON_VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.lists(st.integers(), max_size=2)
)
_ENTRY = st.dictionaries(
    st.sampled_from(["Member_Account", "NickName", "Avatar", "JoinTime", "Other"]), _JSON_VALUE
) | st.sampled_from([None, 1, "u1", []])


@given(st.lists(_ENTRY, max_size=8), st.integers(0, 2**40))
def test_members_page_reads_any_entries_as_the_book_does(raw, cursor):
    page = {"ActionStatus": "OK", "ErrorCode": 0, "MemberList": raw, "NextTimestamp": cursor}
    assert answers.members_page(page) == (_members_by_the_book(raw), cursor)


@pytest.mark.parametrize(
    "entry",
    [
        {"GroupId": "@TGS#x", "Name": "X", "Type": "AVChatRoom"},  # no ErrorCode
        {"GroupId": "@TGS#x", "ErrorCode": 0, "Name": "X"},  # no Type
        {"GroupId": "@TGS#x", "ErrorCode": 0, "Type": "AVChatRoom"},  # no Name
        {"GroupId": "@TGS#x", "ErrorCode": 0, "Name": "X", "Type": ""},
    ],
)
def test_group_info_entry_without_its_fields_is_malformed(scripted, entry):
    scripted.answers = [{"ActionStatus": "OK", "ErrorCode": 0, "GroupInfo": [entry]}]
    with (
        scripted_client(scripted, QUICK_RETRY) as client,
        pytest.raises(errors.TransportError, match="incomplete"),
    ):
        client.group_info("@TGS#x")
    assert len(scripted.timestamps) == 2  # retried


def test_group_info_without_its_list_is_retried(sim, client):
    sim.inject_missing_fields("get_group_info", times=1)
    assert client.group_info("@TGS#g").type == "AVChatRoom"
    assert sim.stats().get_group_info.calls == 2


@pytest.mark.parametrize(
    ("group", "kind", "code"),
    [
        ("@TGS#public", errors.NotAudioVideoGroup, 10007),
        ("@TGS#nope", errors.GroupNotFound, 10010),
    ],
)
def test_group_errors(client, group, kind, code):
    with pytest.raises(kind) as caught:
        client.online_members(group)
    assert caught.value.code == code
    assert caught.value.request_id
    assert not caught.value.retryable


@pytest.mark.parametrize("bad", ["", "a" * 49, "@TGS#tab\tid", "é"])
def test_group_id_validated_before_calling(sim, client, bad):
    with pytest.raises(errors.InvalidInput):
        client.online_members(bad)
    assert sim.stats().get_members.calls == 0


def test_mark_validated(client):
    with pytest.raises(errors.InvalidInput, match="whole number"):
        client.online_members("@TGS#g", mark=-1)


def test_wrong_key_is_a_credentials_error_not_retried(sim):
    client = make_client(sim, secret_key="wrong")
    with client, pytest.raises(errors.CredentialsError) as caught:
        client.online_count("@TGS#g")
    assert caught.value.code == 70009
    assert "TENCENT_IM_SECRET_KEY" in caught.value.user_message
    assert sim.stats().get_online_member_num.calls == 1


def test_502_then_success(sim, client):
    sim.set_members("@TGS#g", members(3))
    sim.inject_http("get_online_member_num", status=502, times=2)
    assert client.online_count("@TGS#g") == 3
    assert sim.stats().get_online_member_num.calls == 3


def test_retryable_code_then_success(sim, client):
    sim.set_members("@TGS#g", members(3))
    sim.inject_error("get_members", 10002, times=1)
    sim.inject_error("get_members", 60007, times=1)
    assert len(client.online_members("@TGS#g").members) == 3


def test_gives_up_after_bounded_retries(sim, client):
    sim.inject_http("get_online_member_num", status=502, times=10)
    with pytest.raises(errors.TransportError, match="HTTP 502"):
        client.online_count("@TGS#g")
    assert sim.stats().get_online_member_num.calls == 4


def test_malformed_body_retried_then_reported(sim, client):
    sim.set_faults(Faults(malformed_rate=1.0))
    with pytest.raises(errors.TransportError, match="not valid JSON"):
        client.online_count("@TGS#g")
    assert sim.stats().get_online_member_num.calls == 4


def test_input_errors_not_retried(sim, client):
    sim.inject_error("get_online_member_num", 10004, times=1, info="GroupId is required")
    with pytest.raises(errors.RequestError, match="GroupId is required"):
        client.online_count("@TGS#g")
    assert sim.stats().get_online_member_num.calls == 1


def test_expired_usersig_regenerated_and_retried_once(sim):
    sim.set_members("@TGS#g", members(2))
    # The first signature is made at a time long past (it expired 10 days ago); the next
    # one, made after Tencent's 70001, at the real time.
    times = iter([time.time() - 190 * 86400])
    with make_client(sim, clock=lambda: next(times, time.time())) as client:
        assert client.online_count("@TGS#g") == 2
        assert client.usersigs_generated == 2
        assert client.online_count("@TGS#g") == 2  # the fresh one is reused
        assert client.usersigs_generated == 2
    assert sim.stats().get_online_member_num.calls == 3


def test_usersig_expired_again_after_regeneration_is_reported():
    # Our clock is 200 days behind Tencent's: every signature we make looks expired there.
    scenario = Scenario(cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario, clock=lambda: time.time() + 200 * 86400).start() as sim:
        sim.add_group("@TGS#g", "G", "AVChatRoom")
        client = make_client(sim)
        with client, pytest.raises(errors.CredentialsError) as caught:
            client.online_count("@TGS#g")
        assert caught.value.code == 70001
        assert "server clock" in caught.value.user_message
        assert sim.stats().get_online_member_num.calls == 2  # regenerated, retried once


def test_connection_refused_is_a_transport_error_without_secrets():
    with (
        TencentClient(
            sdkappid=1,
            secret_key="k",
            base_url="http://127.0.0.1:9",
            rate_limits=RateLimits(100),
            retry=QUICK_RETRY,
        ) as client,
        pytest.raises(errors.TransportError) as caught,
    ):
        client.online_count("@TGS#g")
    text = str(caught.value) + repr(caught.value)
    assert "usersig" not in text.lower()
    assert caught.value.__suppress_context__  # the requests error (with the URL) is not chained
    assert "Could not reach Tencent" in caught.value.user_message


def test_group_info(sim, client):
    info = client.group_info("@TGS#public")
    assert (info.name, info.type, info.supports_online_list) == ("Team chat", "Public", False)
    with pytest.raises(errors.GroupNotFound):
        client.group_info("@TGS#nope")


def test_set_marks_then_filter(sim, client):
    sim.set_members("@TGS#g", members(10))
    client.set_marks("@TGS#g", ["user00001", "user00002"], [1200])
    assert {m.account for m in client.online_members("@TGS#g", 1200).members} == {
        "user00001",
        "user00002",
    }


def test_limiter_keeps_16_threads_under_the_simulators_limit():
    scenario = Scenario(rate_limit=40, cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as sim, make_client(sim) as client:
        sim.add_group("@TGS#g", "G", "AVChatRoom")
        sim.set_members("@TGS#g", members(1))
        barrier = threading.Barrier(16)
        failures = []

        def worker():
            barrier.wait()
            for _ in range(8):
                try:
                    client.online_count("@TGS#g")
                except errors.TencentError as exc:  # pragma: no cover - would fail the test
                    failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = sim.stats().get_online_member_num
        assert failures == []
        assert stats.calls == 128
        assert stats.rate_limited == 0
        assert stats.max_per_second <= 40


def test_secret_not_in_repr(sim, client):
    assert sim.scenario.secret_key not in repr(client)


def test_group_infos_asks_fifty_at_a_time(sim, client):
    ids = [f"@TGS#n{i:03d}" for i in range(120)]
    for group_id in ids[:-1]:
        sim.add_group(group_id, f"Name {group_id}", "AVChatRoom")
    before = sim.stats().get_group_info.calls
    infos = client.group_infos(ids)
    assert sim.stats().get_group_info.calls - before == 3
    assert infos[ids[0]].name == f"Name {ids[0]}"
    assert isinstance(infos[ids[-1]], errors.GroupNotFound)  # the one never added
    assert len(infos) == 120


# --- group types: counts for every countable group, members beyond the cap ---------------


@pytest.fixture
def typed_sim():
    """A Public, a Community and an AV group; the app without "Group Member Online Status"."""
    scenario = Scenario(
        cache_seconds=0,
        community_refresh_seconds=0,
        online_status=False,
        groups=[],
        faults=Faults(),
    )
    with Simulator(scenario).start() as running:
        running.add_group("@TGS#g", "Live", "AVChatRoom")
        running.add_group("@TGS#public", "Team chat", "Public")
        running.add_group("@TGS#_community", "Fans", "Community")
        running.set_members("@TGS#_community", members(7))
        yield running


def test_community_counted_on_its_own_endpoint_by_its_id(typed_sim):
    with make_client(typed_sim) as client:
        assert client.online_count("@TGS#_community") == 7
    stats = typed_sim.stats()
    assert stats.million_group_get_online_member_num.ok == 1
    assert stats.get_online_member_num.calls == 0


def test_community_counted_on_its_own_endpoint_by_its_type(typed_sim):
    typed_sim.add_group("@TGS#custom-community", "Custom", "Community")
    typed_sim.set_members("@TGS#custom-community", members(4))
    with make_client(typed_sim) as client:
        assert client.online_count("@TGS#custom-community", "Community") == 4
    assert typed_sim.stats().million_group_get_online_member_num.ok == 1


def test_count_refused_for_want_of_the_feature_says_so(typed_sim):
    with make_client(typed_sim) as client, pytest.raises(errors.FeatureNotEnabled) as caught:
        client.online_count("@TGS#public", "Public")
    message = caught.value.user_message
    assert "Public groups" in message
    assert '"Group Member Online Status"' in message and "Pro edition" in message
    assert "not an audio-video group" not in message
    assert caught.value.code == 10007


def test_the_two_count_apis_have_their_own_rate_limit(typed_sim):
    """Both are named get_online_member_num: a full bucket for one must not hold up the
    other. With a limit of 3 a second, one call a second is sustained."""
    with make_client(typed_sim, rate_limits=RateLimits(3)) as client:

        def timed(group_id):
            started = time.monotonic()
            client.online_count(group_id)
            return time.monotonic() - started

        waits = [timed("@TGS#g") for _ in range(3)]
        assert waits[-1] > 0.5  # the ordinary count's bucket is full: its next call waited
        assert timed("@TGS#_community") < 0.5  # the Community count's is not


def test_check_members_beyond_the_list_cap(typed_sim):
    typed_sim.set_members("@TGS#g", members(1500))
    with make_client(typed_sim) as client:
        listed = {m.account for m in client.online_members("@TGS#g").members}
        assert "user00000" not in listed  # the list keeps the 1,000 latest
        check = client.check_members("@TGS#g", ["user00000", "ghost", "user01499", "user00000"])
    assert check.present == ("user00000", "user01499")
    assert check.absent == ("ghost",)
    assert check.group_id == "@TGS#g" and check.checked_at > 0


@pytest.mark.parametrize(
    ("accounts", "match"),
    [
        ([], "at least one account"),
        ([f"u{i}" for i in range(501)], "at most 500 accounts"),
        (["x" * 33], "1 to 32 bytes"),
    ],
)
def test_check_members_input_refused_before_calling(typed_sim, accounts, match):
    with make_client(typed_sim) as client, pytest.raises(errors.InvalidInput, match=match):
        client.check_members("@TGS#g", accounts)
    assert typed_sim.stats().check_members.calls == 0


def test_check_members_on_a_group_without_it_explains(typed_sim):
    with make_client(typed_sim) as client, pytest.raises(errors.FeatureNotEnabled) as caught:
        client.check_members("@TGS#_community", ["a"])
    assert "audio-video groups (AVChatRoom)" in caught.value.user_message


def test_too_many_signature_failures_is_not_waited_out(sim, client):
    sim.inject_error("get_online_member_num", 70050, times=1)
    with pytest.raises(errors.CredentialsError, match="TENCENT_IM_SECRET_KEY") as caught:
        client.online_count("@TGS#g")
    assert caught.value.code == 70050 and not caught.value.retryable
    assert sim.stats().get_online_member_num.calls == 1


# -- the backup domain --------------------------------------------------------------------


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def switches(caplog):
    return [r.getMessage() for r in caplog.records if "switching to" in r.getMessage()]


def test_unreachable_main_domain_switches_to_the_backup(sim, closed_port, caplog):
    sim.set_members("@TGS#g", members(3))
    now = [time.time()]
    main = f"http://127.0.0.1:{closed_port}"
    caplog.set_level(logging.INFO, logger="bot.tencent.client")
    with make_client(
        sim, base_url=main, backup_url=sim.url, backup_stay=300, clock=lambda: now[0]
    ) as client:
        assert client.online_count("@TGS#g") == 3
        (switch,) = switches(caplog)
        assert f"127.0.0.1:{closed_port}" in switch and sim.url.removeprefix("http://") in switch
        assert "300 s" in switch
        assert client.for_background().online_count("@TGS#g") == 3  # straight to the backup
        assert len(switches(caplog)) == 1
        assert sim.stats().get_online_member_num.calls == 2
        now[0] += 301  # the stay is over: the main domain is tried again, and fails again
        assert client.online_count("@TGS#g") == 3
        assert len(switches(caplog)) == 2
        assert any("main domain" in r.getMessage() for r in caplog.records)
    assert "usersig" not in caplog.text.lower()
    assert sim.scenario.secret_key not in caplog.text


def test_a_timeout_does_not_switch_to_the_backup(sim, caplog):
    # A listening socket nobody accepts from: the connection is made, no answer comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        main = f"http://127.0.0.1:{silent.getsockname()[1]}"
        retry = QUICK_RETRY
        with (
            make_client(
                sim, base_url=main, backup_url=sim.url, timeout=(1, 0.2), retry=retry
            ) as client,
            pytest.raises(errors.TransportError, match="did not answer in time"),
        ):
            client.online_count("@TGS#g")
    assert switches(caplog) == []
    assert sim.stats().get_online_member_num.calls == 0


def test_http_errors_do_not_switch_to_the_backup(sim, caplog):
    other = Simulator(Scenario(cache_seconds=0, groups=[], faults=Faults())).start()
    try:
        sim.inject_http("get_online_member_num", status=502, times=10)
        with (
            make_client(sim, backup_url=other.url) as client,
            pytest.raises(errors.TransportError, match="HTTP 502"),
        ):
            client.online_count("@TGS#g")
        assert switches(caplog) == []
        assert other.stats().total_calls == 0
    finally:
        other.stop()
