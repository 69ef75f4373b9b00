"""MonitorController without Qt: newest snapshot first, a new snapshot waits for the one in hand, a new
run or classifier makes older answers stale, one appearance time per snapshot.

Answers are handled on the test's thread through monitor_factory.Inbox, as the view handles them on
the GUI thread through ToGui."""

from __future__ import annotations

import pytest

import monitor_factory as F
from explorer.core.monitor import RunMonitor
from explorer.core.monitor_controller import NO_CLASSIFIER_NOTE, MonitorController


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return F.world(tmp_path_factory)


@pytest.fixture
def make_controller(world):
    made = []

    def make(classifier=world["classifier"]):
        inbox = F.Inbox()
        ctl = MonitorController(classifier, n=F.TEST_N, dispatch=inbox.wrap)
        made.append(ctl)
        return ctl, inbox

    yield make
    for ctl in made:
        ctl.close()


def _done(mon: RunMonitor, *epochs) -> bool:
    return all(e in mon.results and mon.results[e].stage in ("full", "skipped") for e in epochs)


def test_newest_pending_snapshot_is_evaluated_first(make_controller, world, tmp_path):
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(3))
    for epoch in (1, 2, 3):
        F.add_snapshot(run, epoch, F.healthy_table(world))
    ctl, inbox = make_controller()
    mon = ctl.set_run(run)
    assert inbox.pump(lambda: _done(mon, 1, 2, 3) and ctl.is_idle(), timeout=120)
    finished = {e: mon.results[e].finished for e in (1, 2, 3)}
    assert finished[3] < finished[2] < finished[1], finished
    assert all(mon.results[e].report is not None for e in (1, 2, 3))
    assert mon.status == "watching for new snapshots"


def test_a_new_snapshot_waits_for_the_one_being_evaluated(make_controller, world, tmp_path):
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(2))
    F.add_snapshot(run, 1, F.healthy_table(world))
    ctl, inbox = make_controller()
    mon = ctl.set_run(run)
    # Once epoch 1's film strip is in, its full evaluation is with the worker.
    assert inbox.pump(lambda: mon.results[1].stage == "strip", timeout=60)
    generation = ctl.worker.generation
    F.add_snapshot(run, 2, F.healthy_table(world))
    assert [s.epoch for s in ctl.poll()] == [2]
    assert ctl.worker.generation == generation, "a new snapshot must not replace the evaluation in hand"
    assert not ctl.is_idle()
    assert inbox.pump(lambda: _done(mon, 1, 2) and ctl.is_idle(), timeout=120)
    assert mon.results[1].stage == mon.results[2].stage == "full"
    assert mon.results[1].finished < mon.results[2].finished  # 1 was finished, not restarted after 2
    assert False not in inbox.returned  # nothing of this run was ever stale


def test_a_new_run_makes_the_old_runs_answers_stale(make_controller, world, tmp_path):
    old_run = F.make_run(tmp_path / "old", rows=F.gan_rows(1))
    F.add_snapshot(old_run, 1, F.healthy_table(world))
    new_run = F.make_run(tmp_path / "new", rows=F.gan_rows(2))
    F.add_snapshot(new_run, 1, F.collapsed_table(world))
    F.add_snapshot(new_run, 2, F.collapsed_table(world))
    ctl, inbox = make_controller()
    old = ctl.set_run(old_run)
    assert inbox.pump(lambda: old.results[1].stage == "strip", timeout=60)  # full evaluation in hand
    in_hand = ctl.worker.generation
    new = ctl.set_run(new_run)
    assert not ctl.worker.is_current(in_hand)  # the worker drops that evaluation's answer
    assert ctl.monitor is new and new is not old
    assert inbox.pump(lambda: _done(new, 1, 2) and ctl.is_idle(), timeout=120)
    assert old.results[1].stage == "strip", "an answer for the old run reached its monitor"
    assert "modes_dropped" in [a.name for a in new.alarms()]


def test_a_new_classifier_evaluates_every_snapshot_again(make_controller, world, tmp_path):
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(2))
    F.add_snapshot(run, 1, F.healthy_table(world))
    F.add_snapshot(run, 2, F.few_class_table(world))
    ctl, inbox = make_controller(classifier=None)
    mon = ctl.set_run(run)
    assert inbox.pump(lambda: _done(mon, 1, 2) and ctl.is_idle(), timeout=120)
    assert ctl.note == NO_CLASSIFIER_NOTE
    assert mon.results[1].report is None and mon.results[1].strip is not None
    ctl.set_classifier(world["classifier"])
    assert not ctl.is_idle()
    assert inbox.pump(lambda: ctl.is_idle() and all(mon.results[e].report is not None for e in (1, 2)), timeout=120)
    assert ctl.note == ""
    assert "modes_dropped" in [a.name for a in mon.results[2].report.alarms]


def test_one_appearance_time_per_snapshot(make_controller, world, tmp_path):
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(1))
    F.add_snapshot(run, 1, F.healthy_table(world))
    ctl, inbox = make_controller()
    mon = ctl.set_run(run)
    appeared = mon.results[1].appeared
    assert mon.results[1].stage == "pending" and appeared > 0
    assert inbox.pump(lambda: _done(mon, 1), timeout=60)
    assert mon.results[1].appeared == appeared  # kept through the strip and the full evaluation
    assert mon.results[1].finished >= appeared


def test_an_unreadable_snapshot_is_skipped_and_the_controller_goes_on(make_controller, world, tmp_path):
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(2))
    bad = run / "snapshots" / "epoch-0001"
    bad.mkdir()
    (bad / "generator.onnx").write_bytes(b"not an onnx file")
    F.add_snapshot(run, 2, F.healthy_table(world))
    ctl, inbox = make_controller()
    mon = ctl.set_run(run)
    assert inbox.pump(lambda: _done(mon, 1, 2) and ctl.is_idle(), timeout=120)
    assert mon.results[1].stage == "skipped" and mon.results[1].error
    assert "\n" not in mon.results[1].error
    assert mon.results[2].stage == "full"


def test_family_comes_from_the_bundles_when_config_and_rows_say_nothing(world, tmp_path):
    gan = tmp_path / "gan"
    (gan / "snapshots").mkdir(parents=True)
    F.add_snapshot(gan, 1, F.healthy_table(world))
    mon = RunMonitor(gan)
    assert mon.family == "unknown"  # nothing seen yet
    mon.poll()
    assert mon.family == "gan"
    vae = tmp_path / "vae"
    F.make_blur_vae_decoder(vae / "snapshots" / "epoch-0001", F.healthy_table(world))
    mon = RunMonitor(vae)
    mon.poll()
    assert mon.family == "vae"
