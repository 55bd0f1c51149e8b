"""The scheduler (bot/scheduler.py): the Courier delivers at once when woken, one
delivery at a time, and on its own period; start_scheduler wires it to the poller."""

from __future__ import annotations

import threading

from support.alerting import posts
from support.waiting import wait_until

from bot.scheduler import Courier, start_scheduler


class Deliveries:
    """A deliver function that counts its runs, notes any two at once, and can be held."""

    def __init__(self) -> None:
        self.runs = 0
        self.running = 0
        self.overlapped = False
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.running += 1
            self.overlapped |= self.running > 1
        self.started.set()
        self.release.wait(timeout=30)
        with self._lock:
            self.running -= 1
            self.runs += 1


def test_a_wake_delivers_at_once_not_at_the_next_period():
    deliveries = Deliveries()
    courier = Courier(deliveries, every=3600)
    try:
        courier.wake()
        wait_until(lambda: deliveries.runs == 1, timeout=10, what="the woken delivery")
    finally:
        courier.stop(timeout=10)


def test_a_delivery_that_says_more_are_due_is_followed_at_once_until_none_are():
    said = iter([True, True, False])
    runs = []

    def deliver() -> bool:
        runs.append(1)
        return next(said, False)

    courier = Courier(deliver, every=3600)
    try:
        courier.wake()
        wait_until(lambda: len(runs) == 3, timeout=10, what="three deliveries in a row")
    finally:
        courier.stop(timeout=10)
    assert len(runs) == 3  # the third said none were left: no fourth before the period


def test_wakes_during_a_delivery_run_one_more_after_it_never_two_at_once():
    deliveries = Deliveries()
    deliveries.release.clear()
    courier = Courier(deliveries, every=3600)
    try:
        courier.wake()
        assert deliveries.started.wait(timeout=10)
        for _ in range(5):  # batches writing alerts while the first delivery runs
            courier.wake()
        deliveries.release.set()
        wait_until(lambda: deliveries.runs == 2, timeout=10, what="the delivery after it")
        courier.wake()
        wait_until(lambda: deliveries.runs == 3, timeout=10, what="a later wake's delivery")
    finally:
        courier.stop(timeout=10)
    assert not deliveries.overlapped
    assert deliveries.runs == 3  # five wakes during one delivery: one more, not five


def test_without_wakes_it_delivers_on_its_period_and_stops():
    deliveries = Deliveries()
    courier = Courier(deliveries, every=0.05)
    wait_until(lambda: deliveries.runs >= 3, timeout=10, what="three periodic deliveries")
    assert courier.alive
    courier.stop(timeout=10)
    assert not courier.alive


def test_an_alert_written_by_a_cycle_is_posted_without_waiting_for_the_cycle_to_end(
    env, sim, fake_slack
):
    # The cycle's second batch is held until the first batch's alert is in Slack: only a
    # delivery woken by the first batch can post it (the period is an hour).
    for i in range(2):
        sim.add_group(f"@TGS#b{i}", f"B{i}", "AVChatRoom")
        sim.set_audience(f"@TGS#b{i}", 40)
        env.watch(f"watch @TGS#b{i} below 100")
    env.clock.advance(60)
    env.poller.batch = 1
    checked = []
    original = env.poller.check_targets

    def check_targets(batch, now):
        if checked:  # the second batch
            wait_until(lambda: posts(fake_slack), timeout=20, what="the first alert posted")
        checked.append(batch)
        return original(batch, now)

    env.poller.check_targets = check_targets
    courier = Courier(env.deliverer.deliver_due, every=3600)
    try:
        report = env.poller.run_cycle(wrote_outbox=courier.wake)
        assert report.targets == 2 and report.notifications == 2
        wait_until(lambda: len(posts(fake_slack)) == 2, timeout=20, what="the second alert")
    finally:
        courier.stop(timeout=10)
    assert len(checked) == 2


def test_start_scheduler_stops_its_courier_with_it(env):
    before = set(threading.enumerate())
    scheduler = start_scheduler(
        env.poller, env.deliverer, interval=60, history_days=14, prompt=True
    )
    couriers = [t for t in threading.enumerate() if t.name == "deliver" and t not in before]
    assert couriers and {job.id for job in scheduler.get_jobs()} >= {"poll", "push", "prune"}
    scheduler.shutdown(wait=True)
    wait_until(
        lambda: not any(t.is_alive() for t in couriers), timeout=10, what="the courier stopped"
    )
