"""The Tencent Cloud Chat simulator over real loopback HTTP (requests, port 0).

Time is a fake clock passed to the simulator; latency is recorded by a fake
``sleep``: no test waits on the wall clock.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.simulator import (
    CURSOR_TTL,
    DEMO_SDKAPPID,
    DEMO_SECRET_KEY,
    NICKNAMES,
    Drop,
    Faults,
    GroupSpec,
    Ramp,
    Scenario,
    ScenarioError,
    Simulator,
    Steady,
    Walk,
    demo_scenario,
    load_scenario,
)
from bot.simulator.scenario import Audience, scenario_from_dict
from bot.tencent.models import Member
from bot.tencent.usersig import generate

T0 = 1_700_000_000.0
GROUP = "@TGS#g"
PAGE = 7
MEMBERS = "group_open_avchatroom_http_svc/get_members"
COUNT = "group_open_http_svc/get_online_member_num"
INFO = "group_open_http_svc/get_group_info"
MODIFY = "group_open_avchatroom_http_svc/modify_user_info"
COMMUNITY_COUNT = "million_group_open_http_svc/get_online_member_num"
CHECK = "group_open_avchatroom_http_svc/check_members"


PATH_COMMANDS = {MEMBERS: "get_members", COUNT: "get_online_member_num", INFO: "get_group_info"}


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Api:
    """Signed calls to one running simulator over one keep-alive session."""

    def __init__(self, sim: Simulator, session: requests.Session, clock: FakeClock) -> None:
        self.sim = sim
        self.session = session
        self.clock = clock

    def query(self, **overrides: Any) -> dict[str, Any]:
        scenario = self.sim.scenario
        params: dict[str, Any] = {
            "sdkappid": scenario.sdkappid,
            "identifier": scenario.admin,
            "usersig": generate(
                scenario.sdkappid,
                scenario.secret_key,
                scenario.admin,
                expire=86400,
                now=int(self.clock()),
            ),
            "random": 12345,
            "contenttype": "json",
        }
        params.update(overrides)
        return {key: value for key, value in params.items() if value is not None}

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None, **query: Any):
        data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        return self.session.post(
            f"{self.sim.url}/v4/{path}", params=self.query(**query), data=data, timeout=10
        )

    def call(self, path: str, body: Any = None, **query: Any) -> dict[str, Any]:
        reply = self.post(path, body, **query)
        assert reply.status_code == 200
        return reply.json()  # type: ignore[no-any-return]

    def members(self, group: str = GROUP, timestamp: int = 0, **extra: Any) -> dict[str, Any]:
        return self.call(MEMBERS, {"GroupId": group, "Timestamp": timestamp, **extra})

    def all_members(self, group: str = GROUP, **extra: Any) -> tuple[list[dict], list[int]]:
        """Follow every page; returns the members and the cursors seen."""
        found: list[dict] = []
        cursors: list[int] = []
        timestamp = 0
        while True:
            answer = self.members(group, timestamp, **extra)
            assert answer["ErrorCode"] == 0, answer
            found.extend(answer["MemberList"])
            timestamp = answer["NextTimestamp"]
            if not timestamp:
                return found, cursors
            cursors.append(timestamp)
            assert len(cursors) < 1000, "paging never ended"


def people(n: int, prefix: str = "p") -> list[Member]:
    return [
        Member(f"{prefix}{i:05d}", f"Nick {i}", f"https://x/{i}.png", 1_600_000_000 + i)
        for i in range(n)
    ]


def make_scenario(**overrides: Any) -> Scenario:
    settings: dict[str, Any] = {
        "page_size": PAGE,
        "cache_seconds": 0,
        "groups": [
            GroupSpec(GROUP, "Group G", "AVChatRoom", Steady(0)),
            GroupSpec("@TGS#public", "Team Chat", "Public", Steady(5)),
            GroupSpec("@TGS#community", "Community", "Community", Steady(3)),
        ],
    }
    settings.update(overrides)
    return Scenario(**settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def start(clock: FakeClock, session: requests.Session) -> Iterator[Callable[..., Api]]:
    """Start a simulator for a scenario (fake clock); every one is stopped afterwards."""
    running: list[Simulator] = []

    def _start(scenario: Scenario | None = None, **kwargs: Any) -> Api:
        sim = Simulator(scenario or make_scenario(), clock=clock, **kwargs).start()
        running.append(sim)
        return Api(sim, session, clock)

    yield _start
    session.close()
    for sim in running:
        sim.stop()


@pytest.fixture
def api(start: Callable[..., Api]) -> Api:
    return start()


# ----------------------------------------------------------------------------- envelope


def test_answer_has_the_envelope_and_unique_request_ids(api: Api) -> None:
    api.sim.set_members(GROUP, people(3))
    first, second = api.members(), api.members()
    for answer in (first, second):
        assert answer["ActionStatus"] == "OK"
        assert answer["ErrorCode"] == 0
        assert answer["ErrorInfo"] == ""
        assert answer["NextTimestamp"] == 0
    assert first["RequestId"] and first["RequestId"] != second["RequestId"]
    assert [m["Member_Account"] for m in first["MemberList"]] == ["p00002", "p00001", "p00000"]
    assert first["MemberList"][0] == {
        "Member_Account": "p00002",
        "NickName": "Nick 2",
        "Avatar": "https://x/2.png",
        "JoinTime": 1_600_000_002,
    }


def test_unknown_path_is_60009_with_http_200(api: Api) -> None:
    answer = api.call("group_open_http_svc/no_such_command", {"GroupId": GROUP})
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 60009)
    assert answer["RequestId"]
    assert api.sim.stats().unknown_path == 1


def test_get_is_refused(api: Api) -> None:
    reply = api.session.get(f"{api.sim.url}/v4/{COUNT}", params=api.query(), timeout=10)
    assert reply.status_code == 200
    assert reply.json()["ErrorCode"] == 60002


def test_keep_alive_serves_several_requests_on_one_connection(api: Api) -> None:
    host, port = api.sim.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(3):
            body = json.dumps({"GroupId": GROUP}).encode()
            query = "&".join(f"{k}={v}" for k, v in api.query().items())
            connection.request("POST", f"/v4/{COUNT}?{query}", body=body)
            reply = connection.getresponse()
            assert reply.status == 200
            assert reply.getheader("Connection") != "close"
            assert json.loads(reply.read())["ErrorCode"] == 0
    finally:
        connection.close()


def test_stop_ends_open_keep_alive_connections(clock: FakeClock) -> None:
    sim = Simulator(make_scenario(), clock=clock).start()
    with requests.Session() as session:
        api = Api(sim, session, clock)
        assert api.call(COUNT, {"GroupId": GROUP})["ErrorCode"] == 0
        url = sim.url
        sim.stop()
        with pytest.raises(requests.ConnectionError):
            session.post(f"{url}/v4/{COUNT}", data=b"{}", timeout=2)
    sim.stop()  # twice is harmless
    with pytest.raises(RuntimeError, match="not serving"):
        _ = sim.url


def test_context_manager_starts_and_stops(clock: FakeClock) -> None:
    with Simulator(make_scenario(), clock=clock) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="already serving"):
            sim.start()
    with pytest.raises(RuntimeError):
        _ = sim.url


# ----------------------------------------------------------------------------- query & UserSig


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"sdkappid": None}, 60012),
        ({"sdkappid": ""}, 60012),
        ({"sdkappid": 1400000001}, 60006),
        ({"sdkappid": "abc"}, 60006),
        ({"identifier": None}, 60002),
        ({"usersig": None}, 60002),
        ({"random": None}, 60002),
        ({"random": "-1"}, 60002),
        ({"random": 2**32}, 60002),
        ({"random": "12a"}, 60002),
        ({"contenttype": None}, 60002),
        ({"contenttype": "xml"}, 60002),
        ({"identifier": "bob"}, 60010),
        ({"usersig": "garbage!!"}, 70003),
    ],
)
def test_query_parameters_checked_in_order(api: Api, overrides: dict, code: int) -> None:
    answer = api.call(COUNT, {"GroupId": GROUP}, **overrides)
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", code)
    assert answer["ErrorInfo"]


def test_sdkappid_checked_before_identifier(api: Api) -> None:
    answer = api.call(COUNT, {"GroupId": GROUP}, sdkappid=1, identifier=None)
    assert answer["ErrorCode"] == 60006


def test_usersig_signed_with_the_wrong_key_is_70009(api: Api, clock: FakeClock) -> None:
    bad = generate(DEMO_SDKAPPID, "0" * 64, "administrator", expire=86400, now=int(clock()))
    assert api.call(COUNT, {"GroupId": GROUP}, usersig=bad)["ErrorCode"] == 70009


def test_usersig_for_another_identifier_or_app(api: Api, clock: FakeClock) -> None:
    other_user = generate(DEMO_SDKAPPID, DEMO_SECRET_KEY, "bob", expire=86400, now=int(clock()))
    other_app = generate(1400000001, DEMO_SECRET_KEY, "administrator", expire=86400, now=T0)
    assert api.call(COUNT, {"GroupId": GROUP}, usersig=other_user)["ErrorCode"] == 70013
    assert api.call(COUNT, {"GroupId": GROUP}, usersig=other_app)["ErrorCode"] == 70014


def test_usersig_expires_on_the_simulator_clock(api: Api, clock: FakeClock) -> None:
    sig = generate(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator", expire=60, now=int(clock()))
    assert api.call(COUNT, {"GroupId": GROUP}, usersig=sig)["ErrorCode"] == 0
    clock.advance(61)
    answer = api.call(COUNT, {"GroupId": GROUP}, usersig=sig)
    assert answer["ErrorCode"] == 70001
    assert "expired" in answer["ErrorInfo"]


# ----------------------------------------------------------------------------- body & fields


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"GroupId"', b"\xff\xfe"])
def test_body_must_be_a_json_object(api: Api, raw: bytes) -> None:
    reply = api.post(COUNT, raw=raw)
    assert reply.json()["ErrorCode"] == 60003


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (MEMBERS, {"Timestamp": 0}, "GroupId"),
        (MEMBERS, {"GroupId": GROUP}, "Timestamp"),
        (COUNT, {}, "GroupId"),
        (INFO, {}, "GroupIdList"),
        (MODIFY, {"CommandType": 1, "MemberList": []}, "GroupId"),
        (MODIFY, {"GroupId": GROUP, "MemberList": []}, "CommandType"),
        (MODIFY, {"GroupId": GROUP, "CommandType": 1}, "MemberList"),
    ],
)
def test_missing_fields_are_10004_naming_the_field(
    api: Api, path: str, body: dict, field: str
) -> None:
    answer = api.call(path, body)
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 10004)
    assert field in answer["ErrorInfo"]


@pytest.mark.parametrize(
    "extra", [{"Mark": "1000"}, {"Mark": 1.5}, {"Mark": True}, {"Timestamp": "0"}]
)
def test_mark_and_timestamp_must_be_integers(api: Api, extra: dict) -> None:
    answer = api.call(MEMBERS, {"GroupId": GROUP, "Timestamp": 0, **extra})
    assert answer["ErrorCode"] == 10004
    assert next(iter(extra)) in answer["ErrorInfo"]


# ----------------------------------------------------------------------------- groups


@pytest.mark.parametrize("bad", ["", "a" * 49, "tab\tid", "caf\u00e9", "\x7f", 123, None])
@pytest.mark.parametrize("path", [MEMBERS, COUNT])
def test_invalid_group_ids_are_10015(api: Api, bad: object, path: str) -> None:
    assert api.call(path, {"GroupId": bad, "Timestamp": 0})["ErrorCode"] == 10015


def test_group_id_of_48_bytes_is_valid(api: Api) -> None:
    assert api.call(COUNT, {"GroupId": "a" * 48})["ErrorCode"] == 10010


@pytest.mark.parametrize("path", [MEMBERS, COUNT, MODIFY])
def test_unknown_group_is_10010(api: Api, path: str) -> None:
    body = {
        "GroupId": "@TGS#nope",
        "Timestamp": 0,
        "CommandType": 1,
        "MemberList": [{"Member_Account": "x", "Marks": [1000]}],
    }
    assert api.call(path, body)["ErrorCode"] == 10010


def test_removed_group_is_10010(api: Api) -> None:
    api.sim.remove_group(GROUP)
    assert api.call(COUNT, {"GroupId": GROUP})["ErrorCode"] == 10010


def test_non_audio_video_group_has_no_list_but_a_count(api: Api) -> None:
    assert api.members("@TGS#public")["ErrorCode"] == 10007
    assert api.call(COUNT, {"GroupId": "@TGS#public"})["OnlineMemberNum"] == 5


@pytest.mark.parametrize(
    ("overrides", "group"),
    [
        ({"online_status": False}, "@TGS#public"),
        ({"online_status": False}, "@TGS#community"),
        ({"edition": "lower"}, "@TGS#public"),
    ],
)
def test_count_of_other_types_needs_online_status_on_pro(
    start: Callable[..., Api], overrides: dict[str, Any], group: str
) -> None:
    api = start(make_scenario(**overrides))
    answer = api.call(COUNT, {"GroupId": group})
    assert answer["ErrorCode"] == 10007
    assert "OnlineMemberNum" not in answer
    api.sim.set_members(GROUP, people(2))
    assert api.call(COUNT, {"GroupId": GROUP})["OnlineMemberNum"] == 2  # AV: always counted


def test_community_groups_have_online_lists_and_their_own_count(api: Api) -> None:
    assert len(api.members("@TGS#community")["MemberList"]) == 3
    assert api.call(COMMUNITY_COUNT, {"GroupId": "@TGS#community"})["OnlineMemberNum"] == 3
    assert api.call(COMMUNITY_COUNT, {"GroupId": "@TGS#public"})["ErrorCode"] == 10007
    assert api.call(COMMUNITY_COUNT, {"GroupId": GROUP})["ErrorCode"] == 10007
    stats = api.sim.stats()
    assert stats.million_group_get_online_member_num.calls == 3
    assert stats.get_online_member_num.calls == 0  # same name, counted apart


def test_community_count_refreshes_every_few_minutes(
    start: Callable[..., Api], clock: FakeClock
) -> None:
    api = start(make_scenario(community_refresh_seconds=240))
    body = {"GroupId": "@TGS#community"}
    assert api.call(COMMUNITY_COUNT, body)["OnlineMemberNum"] == 3
    api.sim.set_audience("@TGS#community", 10)
    clock.advance(100)
    assert api.call(COMMUNITY_COUNT, body)["OnlineMemberNum"] == 3  # still the old count
    clock.advance(140)
    assert api.call(COMMUNITY_COUNT, body)["OnlineMemberNum"] == 10


def test_check_members_sees_beyond_the_list_cap(api: Api) -> None:
    api.sim.set_members(GROUP, people(1200))
    listed, _ = api.all_members()
    assert len(listed) == 1000
    oldest = "p00000"  # joined first: not in the 1,000 latest
    assert oldest not in {m["Member_Account"] for m in listed}
    answer = api.call(CHECK, {"GroupId": GROUP, "Member_Account": [oldest, "nobody", "p01199"]})
    assert answer["ErrorCode"] == 0
    assert answer["Member_Account"] == [oldest, "p01199"]


def test_check_members_uses_the_list_snapshot(start: Callable[..., Api], clock: FakeClock) -> None:
    api = start(make_scenario(cache_seconds=40))
    api.sim.add_group("@TGS#ramp", "Ramp", curve=Ramp(1, 5, 10))
    accounts = [f"user{3 * 100_000 + seq:06d}" for seq in range(5)]  # the 4th group's joiners
    body = {"GroupId": "@TGS#ramp", "Member_Account": accounts}
    assert api.call(CHECK, body)["Member_Account"] == accounts[:1]
    clock.advance(39)
    assert api.sim.online_count("@TGS#ramp") == 5
    assert api.call(CHECK, body)["Member_Account"] == accounts[:1]  # a snapshot up to 40 s old
    clock.advance(1)
    assert api.call(CHECK, body)["Member_Account"] == accounts


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"GroupId": "@TGS#public", "Member_Account": ["a"]}, 10007),
        ({"GroupId": "@TGS#community", "Member_Account": ["a"]}, 10007),
        ({"GroupId": GROUP}, 10004),
        ({"GroupId": GROUP, "Member_Account": []}, 10004),
        ({"GroupId": GROUP, "Member_Account": "a"}, 10004),
        ({"GroupId": GROUP, "Member_Account": [f"u{i}" for i in range(501)]}, 10004),
        ({"GroupId": "@TGS#gone", "Member_Account": ["a"]}, 10010),
    ],
)
def test_check_members_refusals(api: Api, body: dict[str, Any], code: int) -> None:
    assert api.call(CHECK, body)["ErrorCode"] == code


def test_check_members_needs_pro(start: Callable[..., Api]) -> None:
    api = start(make_scenario(edition="lower"))
    assert api.call(CHECK, {"GroupId": GROUP, "Member_Account": ["a"]})["ErrorCode"] == 10007


def test_group_info_answers_per_group(api: Api) -> None:
    answer = api.call(INFO, {"GroupIdList": [GROUP, "@TGS#public", "@TGS#nope", "a" * 49]})
    assert answer["ErrorCode"] == 0
    assert answer["GroupInfo"] == [
        {"GroupId": GROUP, "ErrorCode": 0, "ErrorInfo": "", "Type": "AVChatRoom",
         "Name": "Group G"},
        {"GroupId": "@TGS#public", "ErrorCode": 0, "ErrorInfo": "", "Type": "Public",
         "Name": "Team Chat"},
        {"GroupId": "@TGS#nope", "ErrorCode": 10010,
         "ErrorInfo": answer["GroupInfo"][2]["ErrorInfo"]},
        {"GroupId": "a" * 49, "ErrorCode": 10015,
         "ErrorInfo": answer["GroupInfo"][3]["ErrorInfo"]},
    ]  # fmt: skip


@pytest.mark.parametrize("ids", [[], [GROUP] * 51, GROUP])
def test_group_info_list_bounds(api: Api, ids: object) -> None:
    assert api.call(INFO, {"GroupIdList": ids})["ErrorCode"] == 10004


def test_add_group_at_runtime(api: Api) -> None:
    api.sim.add_group("@TGS#new", "New", "AVChatRoom", Steady(4))
    assert api.call(COUNT, {"GroupId": "@TGS#new"})["OnlineMemberNum"] == 4
    with pytest.raises(ValueError, match="already exists"):
        api.sim.add_group("@TGS#new", "Again")


# ----------------------------------------------------------------------------- paging


@pytest.mark.parametrize("size", [0, 1, PAGE, PAGE + 1, 3 * PAGE, 2500])
def test_paging_yields_every_member_exactly_once(api: Api, size: int) -> None:
    everyone = people(size)
    api.sim.set_members(GROUP, everyone)
    found, cursors = api.all_members()
    expected = [m.account for m in reversed(everyone)][:1000]  # latest first, capped
    assert [m["Member_Account"] for m in found] == expected
    assert len(cursors) == max(0, -(-len(expected) // PAGE) - 1)
    assert api.call(COUNT, {"GroupId": GROUP})["OnlineMemberNum"] == size


def test_cursors_are_opaque_not_page_numbers(api: Api) -> None:
    api.sim.set_members(GROUP, people(5 * PAGE))
    _, cursors = api.all_members()
    assert len(cursors) == 4
    assert len(set(cursors)) == 4
    assert all(2**32 < cursor < 2**63 for cursor in cursors)
    assert sorted(cursors) != [cursors[0] + i for i in range(4)]


def test_a_page_can_be_fetched_again_with_the_same_cursor(api: Api) -> None:
    api.sim.set_members(GROUP, people(3 * PAGE))
    cursor = api.members()["NextTimestamp"]
    first, again = api.members(timestamp=cursor), api.members(timestamp=cursor)
    assert first["MemberList"] == again["MemberList"]
    assert first["NextTimestamp"] == again["NextTimestamp"] != 0


@pytest.mark.parametrize("timestamp", [1, 2, -5, 2**62 + 17])
def test_unknown_cursor_is_10004(api: Api, timestamp: int) -> None:
    api.sim.set_members(GROUP, people(3 * PAGE))
    answer = api.members(timestamp=timestamp)
    assert answer["ErrorCode"] == 10004
    assert answer["ErrorInfo"] == "invalid Timestamp"


def test_cursor_of_another_group_or_mark_is_10004(api: Api) -> None:
    api.sim.add_group("@TGS#other", "Other", curve=Steady(3 * PAGE))
    api.sim.set_members(GROUP, people(3 * PAGE), marks={f"p{i:05d}": {1000} for i in range(20)})
    cursor = api.members("@TGS#other")["NextTimestamp"]
    assert api.members(GROUP, cursor)["ErrorCode"] == 10004
    marked = api.members(GROUP, Mark=1000)["NextTimestamp"]
    assert api.members(GROUP, marked)["ErrorCode"] == 10004
    assert api.members(GROUP, marked, Mark=1000)["ErrorCode"] == 0


def test_cursor_expires(api: Api, clock: FakeClock) -> None:
    api.sim.set_members(GROUP, people(3 * PAGE))
    cursor = api.members()["NextTimestamp"]
    clock.advance(CURSOR_TTL + 1)
    assert api.members(timestamp=cursor)["ErrorInfo"] == "invalid Timestamp"


def test_paging_continues_on_its_own_listing_when_the_audience_changes(api: Api) -> None:
    api.sim.set_members(GROUP, people(2 * PAGE))
    first = api.members()
    api.sim.set_members(GROUP, people(2 * PAGE, prefix="q"))
    second = api.members(timestamp=first["NextTimestamp"])
    accounts = [m["Member_Account"] for m in first["MemberList"] + second["MemberList"]]
    assert accounts == [m.account for m in reversed(people(2 * PAGE))]


def test_cursor_loop_repeats_the_same_cursor(api: Api) -> None:
    api.sim.set_members(GROUP, people(3))
    api.sim.inject_cursor_loop(GROUP)
    first = api.members()
    assert first["NextTimestamp"] != 0
    again = api.members(timestamp=first["NextTimestamp"])
    assert again["NextTimestamp"] == first["NextTimestamp"]
    assert again["MemberList"] == first["MemberList"]
    api.sim.clear_injections()
    assert api.members()["NextTimestamp"] == 0


def test_lower_edition_returns_the_30_latest_in_one_page(start: Callable[..., Api]) -> None:
    api = start(make_scenario(edition="lower"))
    api.sim.set_members(GROUP, people(100))
    answer = api.members()
    assert answer["NextTimestamp"] == 0
    assert [m["Member_Account"] for m in answer["MemberList"]] == [
        m.account for m in reversed(people(100))
    ][:30]
    assert api.call(COUNT, {"GroupId": GROUP})["OnlineMemberNum"] == 100


# ----------------------------------------------------------------------------- marks


def test_mark_filter_returns_only_marked_members(api: Api) -> None:
    everyone = people(40)
    marks = {m.account: {1000} for m in everyone[::3]} | {"p00001": {1001}}
    api.sim.set_members(GROUP, everyone, marks=marks)
    found, _ = api.all_members(Mark=1000)
    assert {m["Member_Account"] for m in found} == {m.account for m in everyone[::3]}
    assert [m["Member_Account"] for m in api.all_members(Mark=1001)[0]] == ["p00001"]
    assert api.all_members(Mark=4242)[0] == []


def test_mark_filter_is_applied_before_the_cap(api: Api) -> None:
    everyone = people(2500)
    marks = {m.account: {1000} for m in everyone[:1200]}  # the 1,200 earliest joiners
    api.sim.set_members(GROUP, everyone, marks=marks)
    found, _ = api.all_members(Mark=1000)
    assert len(found) == 1000
    assert found[0]["Member_Account"] == "p01199"


def test_modify_user_info_sets_and_deletes_marks(api: Api) -> None:
    api.sim.set_members(GROUP, people(10))

    def modify(command: int, accounts: list[str], marks: list[int]) -> dict:
        member_list = [{"Member_Account": a, "Marks": marks} for a in accounts]
        body = {"GroupId": GROUP, "CommandType": command, "MemberList": member_list}
        return api.call(MODIFY, body)

    assert modify(1, ["p00001", "p00002", "offline"], [1200, 1300])["ErrorCode"] == 0
    assert {m["Member_Account"] for m in api.members(Mark=1200)["MemberList"]} == {
        "p00001",
        "p00002",
    }
    assert modify(2, ["p00001"], [1200])["ErrorCode"] == 0
    assert [m["Member_Account"] for m in api.members(Mark=1200)["MemberList"]] == ["p00002"]
    assert [m["Member_Account"] for m in api.members(Mark=1300)["MemberList"]] == [
        "p00002",
        "p00001",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"CommandType": 3, "MemberList": [{"Member_Account": "p00001", "Marks": [1000]}]},
        {"CommandType": 1, "MemberList": [{"Member_Account": "p00001", "Marks": [999]}]},
        {"CommandType": 1, "MemberList": [{"Member_Account": "p00001", "Marks": []}]},
        {"CommandType": 1, "MemberList": [{"Member_Account": 7, "Marks": [1000]}]},
        {"CommandType": 1, "MemberList": [{"Member_Account": f"a{i}", "Marks": [1000]}
                                          for i in range(501)]},
        {"CommandType": 1, "MemberList": [{"Member_Account": "p00001",
                                           "Marks": list(range(1000, 1011))}]},
    ],
)  # fmt: skip
def test_modify_user_info_validates(api: Api, change: dict) -> None:
    api.sim.set_members(GROUP, people(3))
    assert api.call(MODIFY, {"GroupId": GROUP, **change})["ErrorCode"] == 10004


def test_modify_user_info_on_a_public_group_is_10007(api: Api) -> None:
    change = {"CommandType": 1, "MemberList": [{"Member_Account": "x", "Marks": [1000]}]}
    assert api.call(MODIFY, {"GroupId": "@TGS#public", **change})["ErrorCode"] == 10007


# ----------------------------------------------------------------------------- rate limit


def test_more_than_the_rate_limit_in_one_second_is_60007(
    start: Callable[..., Api], clock: FakeClock
) -> None:
    api = start(make_scenario(rate_limit=5))
    codes = [api.call(COUNT, {"GroupId": GROUP})["ErrorCode"] for _ in range(7)]
    assert codes == [0] * 5 + [60007] * 2
    # Another API has its own budget in the same second.
    assert api.members()["ErrorCode"] == 0
    clock.advance(1)
    assert api.call(COUNT, {"GroupId": GROUP})["ErrorCode"] == 0
    stats = api.sim.stats()
    assert stats.get_online_member_num == stats["get_online_member_num"]
    count = stats.get_online_member_num
    assert (count.calls, count.ok, count.errors, count.rate_limited) == (8, 6, 2, 2)
    assert count.max_per_second == 7
    assert (stats.get_members.calls, stats.get_members.max_per_second) == (1, 1)
    assert stats.total_calls == 9
    assert stats.total_rate_limited == 2


def test_rate_limit_bins_are_whole_seconds(start: Callable[..., Api], clock: FakeClock) -> None:
    api = start(make_scenario(rate_limit=2))
    clock.now = T0 + 0.9
    assert [api.call(COUNT, {"GroupId": GROUP})["ErrorCode"] for _ in range(2)] == [0, 0]
    clock.now = T0 + 1.0  # a new bin, although only 0.1 s later
    assert [api.call(COUNT, {"GroupId": GROUP})["ErrorCode"] for _ in range(3)] == [0, 0, 60007]


def test_stats_are_consistent_under_concurrency(start: Callable[..., Api]) -> None:
    api = start(make_scenario(rate_limit=10_000))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with requests.Session() as own:
                mine = Api(api.sim, own, api.clock)
                for _ in range(20):
                    assert mine.call(COUNT, {"GroupId": GROUP})["ErrorCode"] == 0
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = api.sim.stats().get_online_member_num
    assert (stats.calls, stats.ok, stats.max_per_second) == (320, 320, 320)


# ----------------------------------------------------------------------------- faults


def test_http_502_rate(start: Callable[..., Api]) -> None:
    api = start(make_scenario(faults=Faults(http_502_rate=1.0)))
    reply = api.post(COUNT, {"GroupId": GROUP})
    assert reply.status_code == 502
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "<html>" in reply.text
    assert api.sim.stats().get_online_member_num.http_errors == 1


def test_malformed_rate(start: Callable[..., Api]) -> None:
    api = start(make_scenario(faults=Faults(malformed_rate=1.0)))
    reply = api.post(COUNT, {"GroupId": GROUP})
    assert reply.status_code == 200
    with pytest.raises(ValueError):
        json.loads(reply.text)
    assert api.sim.stats().get_online_member_num.malformed == 1


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        (COUNT, {"GroupId": GROUP}, {"OnlineMemberNum"}),
        (MEMBERS, {"GroupId": GROUP, "Timestamp": 0}, {"MemberList", "NextTimestamp"}),
        (INFO, {"GroupIdList": [GROUP]}, {"GroupInfo"}),
    ],
)
def test_missing_fields_rate_sends_ok_answers_without_their_fields(
    start: Callable[..., Api], path: str, body: dict, fields: set[str]
) -> None:
    api = start(make_scenario(faults=Faults(missing_fields_rate=1.0)))
    answer = api.call(path, body)
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("OK", 0)
    assert not fields & set(answer)
    stats = api.sim.stats()[PATH_COMMANDS[path]]
    assert (stats.ok, stats.malformed) == (0, 1)
    assert api.call(COUNT, {"GroupId": "@TGS#nope"})["ErrorCode"] == 10010  # errors as they are


def test_injected_missing_fields(api: Api) -> None:
    api.sim.set_audience(GROUP, 4)
    api.sim.inject_missing_fields("get_online_member_num", times=2)
    answers = [api.call(COUNT, {"GroupId": GROUP}) for _ in range(3)]
    assert ["OnlineMemberNum" in answer for answer in answers] == [False, False, True]
    assert answers[2]["OnlineMemberNum"] == 4
    assert "MemberList" in api.members()  # another command
    api.sim.inject_missing_fields("get_members")
    api.sim.clear_injections()
    assert "MemberList" in api.members()
    with pytest.raises(ValueError, match="unknown command"):
        api.sim.inject_missing_fields("get_everything")


def test_repeated_cursor_rate_sends_back_the_cursor_it_was_asked_with(api: Api) -> None:
    api.sim.set_members(GROUP, people(3 * PAGE))
    api.sim.set_faults(Faults(repeated_cursor_rate=1.0))
    first = api.members()
    cursor = first["NextTimestamp"]
    second = api.members(timestamp=cursor)
    assert second["NextTimestamp"] == cursor
    assert len(second["MemberList"]) == PAGE
    assert second["MemberList"] != first["MemberList"]  # the page itself is the next one


def test_empty_page_rate_answers_empty_pages_that_still_lead_on(api: Api) -> None:
    api.sim.set_members(GROUP, people(2 * PAGE))
    api.sim.set_faults(Faults(empty_page_rate=1.0))
    first = api.members()
    empty = api.members(timestamp=first["NextTimestamp"])
    assert empty["MemberList"] == [] and empty["NextTimestamp"] not in (0, first["NextTimestamp"])
    api.sim.set_faults(Faults())
    rest = api.members(timestamp=empty["NextTimestamp"])  # the new cursor leads to the same place
    assert rest == {**api.members(timestamp=first["NextTimestamp"]), "RequestId": rest["RequestId"]}
    assert len(rest["MemberList"]) == PAGE and rest["NextTimestamp"] == 0


def test_fault_rates_are_seeded_and_roughly_right(start: Callable[..., Api]) -> None:
    faults = Faults(http_502_rate=0.3, seed=42)
    outcomes = []
    for _ in range(2):
        api = start(make_scenario(faults=faults, rate_limit=10_000))
        outcomes.append([api.post(COUNT, {"GroupId": GROUP}).status_code for _ in range(100)])
    assert outcomes[0] == outcomes[1]
    assert 15 <= outcomes[0].count(502) <= 45


def test_latency_and_slow_answers_are_slept(start: Callable[..., Api]) -> None:
    slept: list[float] = []
    api = start(make_scenario(faults=Faults(latency_ms=20)), sleep=slept.append)
    api.call(COUNT, {"GroupId": GROUP})
    api.call("nowhere/at_all")
    assert slept == [pytest.approx(0.02)] * 2
    api.sim.set_faults(Faults(latency_ms=20, slow_rate=1.0, slow_ms=5000))
    api.call(COUNT, {"GroupId": GROUP})
    assert slept[-1] == pytest.approx(5.02)
    assert api.sim.faults.slow_ms == 5000


def test_injected_http_status(api: Api) -> None:
    api.sim.inject_http("get_online_member_num", status=503, times=2)
    api.sim.inject_http(None, status=502, times=1)
    statuses = [api.post(COUNT, {"GroupId": GROUP}).status_code for _ in range(3)]
    assert statuses == [503, 503, 502]
    assert api.post(COUNT, {"GroupId": GROUP}).status_code == 200
    api.sim.inject_http("get_members")
    assert api.post(COUNT, {"GroupId": GROUP}).status_code == 200  # another command


def test_injected_error_codes(api: Api) -> None:
    api.sim.inject_error("get_members", 10002, times=2, info="boom")
    first, second, third = api.members(), api.members(), api.members()
    assert (first["ErrorCode"], first["ErrorInfo"]) == (10002, "boom")
    assert first["ActionStatus"] == "FAIL"
    assert second["ErrorCode"] == 10002
    assert third["ErrorCode"] == 0
    api.sim.inject_error("get_online_member_num", 60007)
    assert api.call(COUNT, {"GroupId": GROUP})["ErrorCode"] == 60007
    assert api.sim.stats().get_online_member_num.rate_limited == 1
    with pytest.raises(ValueError, match="unknown command"):
        api.sim.inject_error("get_everything", 10002)


# ----------------------------------------------------------------------------- cache & curves


def test_member_list_is_a_snapshot_refreshed_every_cache_seconds(
    start: Callable[..., Api], clock: FakeClock
) -> None:
    ramp = GroupSpec(GROUP, "Ramp", curve=Ramp(10, 100, over=90))
    api = start(make_scenario(cache_seconds=40, groups=[ramp]))
    first, _ = api.all_members()
    assert len(first) == 10
    clock.advance(30)
    assert api.all_members()[0] == first  # same 40 s bin
    assert api.call(COUNT, {"GroupId": GROUP})["OnlineMemberNum"] == 40  # the count is live
    clock.advance(11)  # t = 41: a new bin
    later, _ = api.all_members()
    assert len(later) == 51
    old = {m["Member_Account"] for m in first}
    assert old <= {m["Member_Account"] for m in later}  # the same people stayed
    newest = later[0]
    assert newest["JoinTime"] > max(m["JoinTime"] for m in first)


def test_scripted_audience_is_visible_at_once(api: Api) -> None:
    api.sim.set_audience(GROUP, 12)
    assert api.sim.online_count(GROUP) == 12
    assert len(api.members()["MemberList"]) == 7
    api.sim.set_audience(GROUP, 5)
    accounts = [m["Member_Account"] for m in api.members()["MemberList"]]
    assert len(accounts) == 5
    with pytest.raises(KeyError):
        api.sim.set_audience("@TGS#nope", 1)


def test_drop_curve_over_http(start: Callable[..., Api], clock: FakeClock) -> None:
    spec = GroupSpec(GROUP, "Drop", curve=Drop(400, 40, at=120, recover_at=300))
    api = start(make_scenario(groups=[spec]))

    def count() -> int:
        return api.call(COUNT, {"GroupId": GROUP})["OnlineMemberNum"]

    before = {m["Member_Account"] for m in api.all_members()[0]}
    assert count() == 400
    clock.advance(120)
    assert count() == 40
    during = {m["Member_Account"] for m in api.all_members()[0]}
    assert during < before
    clock.advance(180)
    assert count() == 400
    after = api.all_members()[0]
    assert during < {m["Member_Account"] for m in after}
    assert sum(1 for m in after if m["JoinTime"] == int(T0 + 300)) == 360


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        (Steady(12), {0: 12, 1e6: 12}),
        (Ramp(0, 100, over=50), {-5: 0, 0: 0, 10: 20, 10.9: 20, 25: 50, 50: 100, 99: 100}),
        (Ramp(100, 40, over=3), {0: 100, 1: 80, 2: 60, 3: 40}),
        (Drop(400, 40, at=120), {0: 400, 119.9: 400, 120: 40, 1e6: 40}),
        (Drop(400, 40, at=120, recover_at=300), {119: 400, 120: 40, 299: 40, 300: 400}),
    ],
)
def test_curve_values(curve: Any, expected: dict[float, int]) -> None:
    assert {t: curve.value(t) for t in expected} == expected


def test_walk_is_deterministic_bounded_and_agrees_with_its_changes() -> None:
    walk = Walk(start=2300, step=25, low=2250, high=2350, seed=7)
    values = [walk.value(t) for t in range(0, 3000, 10)]
    assert values == [Walk(2300, 25, 2250, 2350, seed=7).value(t) for t in range(0, 3000, 10)]
    assert values[0] == 2300
    assert all(2250 <= v <= 2350 for v in values)
    assert len(set(values)) > 10
    assert walk.value(9.9) == 2300
    assert walk.value(15) == walk.value(10)
    replayed = {0.0: 2300}
    for at, value in walk.changes():
        if at >= 3000:
            break
        replayed[at] = value
    for t in range(0, 3000, 10):
        last = max(at for at in replayed if at <= t)
        assert walk.value(t) == replayed[last]
    assert Walk(2300, 25, 2250, 2350, seed=8).value(500) != walk.value(500) or values != [
        Walk(2300, 25, 2250, 2350, seed=8).value(t) for t in range(0, 3000, 10)
    ]


def test_audience_replay_keeps_people_and_orders_joins() -> None:
    spec = GroupSpec(GROUP, "Walk", curve=Walk(50, 10, 20, 80, seed=3), marks={1000: 0.25})
    audience = Audience(spec, index=0, origin=T0)
    seen: dict[str, int] = {}
    previous: set[str] = set()
    for t in range(0, 2000, 10):
        audience.advance(T0 + t)
        current = {m.account for m in audience.members}
        assert len(current) == spec.curve.value(t)
        for member in audience.members:
            assert seen.setdefault(member.account, member.join_time) == member.join_time
        joined = current - previous
        if previous and joined:
            assert min(seen[a] for a in joined) >= max(seen[a] for a in previous & current)
        previous = current
        assert set(audience.marks) <= current
    join_times = [m.join_time for m in audience.members]
    assert join_times == sorted(join_times)


def test_generated_members_look_real() -> None:
    spec = GroupSpec("@TGS#small", "Small", curve=Steady(12), marks={1000: 0.5})
    audience = Audience(spec, index=3, origin=T0)
    decoded = [json.loads(m.json) for m in audience.members]
    first = decoded[0]
    assert first["Member_Account"] == "user300000"
    assert first["Avatar"] == "https://example.com/avatars/user300000.png"
    nicknames = {m["NickName"] for m in decoded}
    assert {"<!channel>", "<https://evil.example|click me>", "Tom & Jerry", "*bold*"} <= nicknames
    assert all(T0 - 3600 <= m["JoinTime"] < T0 for m in decoded)
    assert [m["Member_Account"] for m in decoded] == [m.account for m in audience.members]
    assert len(audience.marks) == 6


# ----------------------------------------------------------------------------- the demo


def test_demo_scenario(start: Callable[..., Api], clock: FakeClock) -> None:
    scenario = demo_scenario()
    assert (scenario.sdkappid, scenario.secret_key, scenario.admin) == (
        DEMO_SDKAPPID,
        DEMO_SECRET_KEY,
        "administrator",
    )
    api = start(dataclasses.replace(scenario, rate_limit=10_000))
    large, cursors = api.all_members("@TGS#demo-large")
    assert len(large) == 1000 and len(cursors) == 1
    assert 2000 < api.call(COUNT, {"GroupId": "@TGS#demo-large"})["OnlineMemberNum"] < 2600
    marked = api.members("@TGS#demo-class", Mark=1000)["MemberList"]
    assert 3 <= len(marked) <= 6
    small = api.members("@TGS#demo-small")["MemberList"]
    assert len(small) == 12
    assert {"<!channel>", "Tom & Jerry", "*bold*"} <= {m["NickName"] for m in small}
    assert api.members("@TGS#demo-public")["ErrorCode"] == 10007
    info = api.call(INFO, {"GroupIdList": ["@TGS#demo-public", "@TGS#demo-large"]})
    assert [g["Name"] for g in info["GroupInfo"]] == ["Team Chat", "Friday Live Concert"]
    clock.advance(150)
    assert api.call(COUNT, {"GroupId": "@TGS#demo-drop"})["OnlineMemberNum"] == 40
    clock.advance(200)
    assert api.call(COUNT, {"GroupId": "@TGS#demo-drop"})["OnlineMemberNum"] == 400


def test_nicknames_include_hostile_ones_early() -> None:
    assert {"<!channel>", "<https://evil.example|click me>", "Tom & Jerry", "*bold*"} <= set(
        NICKNAMES[:12]
    )


# ----------------------------------------------------------------------------- load_scenario


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_scenario_reads_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
sdkappid: 1400000123
secret_key: abc
admin: boss
rate_limit: 50
edition: lower
cache_seconds: 0
page_size: 100
seed: 9
faults: {latency_ms: 20, http_502_rate: 0.1, malformed_rate: 0.05, slow_rate: 0.01,
         slow_ms: 3500, seed: 4, missing_fields_rate: 0.2, repeated_cursor_rate: 0.3,
         empty_page_rate: 0.4}
groups:
  - {group_id: "@TGS#a", name: A, steady: 3}
  - {group_id: "@TGS#b", name: B, type: Community, ramp: {from: 1, to: 9, over: 60}}
  - {group_id: "@TGS#c", name: C, drop: {from: 9, to: 1, at: 5, recover_at: 8}}
  - {group_id: "@TGS#d", name: D, walk: {start: 5, step: 1, min: 0, max: 9, seed: 2},
     marks: {1000: 0.1, 1001: 0.5}, seed: 11}
""",
    )
    scenario = load_scenario(path)
    assert (scenario.sdkappid, scenario.secret_key, scenario.admin) == (1400000123, "abc", "boss")
    assert (scenario.rate_limit, scenario.edition, scenario.cache_seconds) == (50, "lower", 0)
    assert (scenario.page_size, scenario.seed) == (100, 9)
    assert scenario.faults == Faults(20, 0.1, 0.05, 0.01, 3500, 4, 0.2, 0.3, 0.4)
    assert [g.curve for g in scenario.groups] == [
        Steady(3),
        Ramp(1, 9, 60),
        Drop(9, 1, 5, 8),
        Walk(5, 1, 0, 9, seed=2),
    ]
    assert scenario.groups[1].type == "Community"
    assert scenario.groups[3].marks == {1000: 0.1, 1001: 0.5}
    assert scenario.groups[3].seed == 11
    assert scenario.group("@TGS#c").name == "C"


def test_minimal_scenario_uses_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "groups: []\n"))
    assert scenario == Scenario()
    assert (scenario.rate_limit, scenario.cache_seconds, scenario.page_size) == (200, 40, 500)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just a list\n", "scenario: must be a mapping"),
        ("rate_limt: 5\n", "unknown key(s) rate_limt"),
        ("rate_limit: 0\n", "rate_limit: must be an integer > 0"),
        ("edition: enterprise\n", "edition: must be 'pro' or 'lower'"),
        ("cache_seconds: -1\n", "cache_seconds"),
        ("page_size: many\n", "page_size"),
        ("faults: {http_502_rate: 1.5}\n", "faults.http_502_rate: must be between 0 and 1"),
        ("faults: {jitter: 1}\n", "faults: unknown key(s) jitter"),
        ("groups: {a: 1}\n", "groups: must be a list"),
        ("groups: [{name: A, steady: 1}]\n", "groups[0]: missing key group_id"),
        ("groups: [{group_id: a, steady: 1}]\n", "groups[0]: missing key name"),
        ("groups: [{group_id: a, name: A}]\n", "groups[0]: needs exactly one audience curve"),
        ("groups: [{group_id: a, name: A, steady: 1, drop: {}}]\n", "exactly one"),
        ("groups: [{group_id: a, name: A, steady: -1}]\n", "groups[0].steady"),
        ("groups: [{group_id: a, name: A, ramp: {from: 1, to: 2}}]\n",
         "groups[0].ramp: missing key(s) over"),
        ("groups: [{group_id: a, name: A, ramp: {from: 1, to: 2, over: 0}}]\n",
         "groups[0].ramp.over"),
        ("groups: [{group_id: a, name: A, drop: {from: 1, to: 2, at: 9, recover_at: 3}}]\n",
         "groups[0].drop.recover_at"),
        ("groups: [{group_id: a, name: A, walk: {start: 9, step: 1, min: 0, max: 5}}]\n",
         "groups[0].walk.start"),
        ("groups: [{group_id: a, name: A, type: Chat, steady: 1}]\n", "groups[0].type"),
        ("groups: [{group_id: a, name: A, steady: 1, marks: {999: 0.5}}]\n", "groups[0].marks"),
        ("groups: [{group_id: a, name: A, steady: 1, marks: {1000: 2}}]\n", "groups[0].marks"),
        ("groups: [{group_id: a, name: A, steady: 1, colour: red}]\n", "unknown key(s) colour"),
        ("groups: [{group_id: a, name: A, steady: 1}, {group_id: a, name: B, steady: 2}]\n",
         "appears twice"),
        ("rate_limit: [unclosed\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_load_scenario_errors_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_load_scenario_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yml")


def test_scenario_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        scenario_from_dict({"groups": [{"group_id": "a", "name": "A", "steady": "x"}]})
