"""latent-train ... --tensorboard: TensorBoard event files beside metrics.jsonl, read back with
TensorBoard's own reader (EventAccumulator)."""

from __future__ import annotations

import sys

import pytest

from explorer.io.run_folder import RunFolder
from tiny_training import TINY, cli, metrics_rows, shapes_folder
from training import tracking

ARGS = ("--batch-size", "16", "--channels", "3", "--image-size", "16", "--latent-dim", "4", "--seed", "2", *TINY)


def events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(RunFolder(run_dir).tensorboard), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def assert_scalars_match_metrics(acc, run_dir):
    rows = metrics_rows(run_dir)
    expected = {}
    for row in rows:
        for tag, value in tracking.scalars(row).items():
            expected.setdefault(tag, []).append((row["epoch"], value))
    assert set(acc.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag
        assert all(abs(a - b) <= 1e-5 * max(1.0, abs(b)) for (_, a), (_, b) in zip(got, points)), tag
    return rows


@pytest.mark.parametrize("family", ["vae", "gan", "classifier"])
def test_tensorboard_holds_every_metric_per_epoch_and_the_sample_grid(family, tmp_path, tmp_path_factory):
    out = tmp_path / "run"
    args = ARGS if family != "classifier" else tuple(a for a in ARGS if a not in ("--latent-dim", "4"))
    assert cli(family, "--data", shapes_folder(tmp_path_factory), "--out", out, "--epochs", "2",
               "--tensorboard", *args) == 0
    acc = events(out)
    rows = assert_scalars_match_metrics(acc, out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"images_per_s", "seconds"} <= set(acc.Tags()["scalars"])
    if family == "vae":
        assert {"loss", "test_neg_elbo", "kl_per_dim/0", "kl_per_dim/3"} <= set(acc.Tags()["scalars"])
    if family == "classifier":
        assert acc.Tags()["images"] == [] and "test_accuracy" in acc.Tags()["scalars"]
        return
    images = acc.Images(tracking.SAMPLES_TAG)
    assert [i.step for i in images] == [1, 2]
    # the grid is the snapshot's samples.png: 64 samples of 16x16 in rows of 8, 2-pixel gaps
    assert (images[0].width, images[0].height) == (8 * 18 + 2, 8 * 18 + 2)


def test_a_resume_purges_the_epochs_it_redoes(tmp_path, tmp_path_factory):
    data, out = shapes_folder(tmp_path_factory), tmp_path / "run"
    assert cli("gan", "--data", data, "--out", out, "--epochs", "1", "--tensorboard", *ARGS) == 0
    assert cli("gan", "--data", data, "--out", out, "--epochs", "2", "--resume", "--tensorboard", *ARGS) == 0
    acc = events(out)
    assert [e.step for e in acc.Scalars("g_loss")] == [1, 2]
    assert_scalars_match_metrics(acc, out)


def test_without_the_option_there_is_no_tensorboard_folder(tmp_path, tmp_path_factory):
    out = tmp_path / "run"
    assert cli("gan", "--data", shapes_folder(tmp_path_factory), "--out", out, "--epochs", "1", *ARGS) == 0
    assert not RunFolder(out).tensorboard.exists()


def test_without_the_package_it_is_one_line_before_anything_is_created(tmp_path, tmp_path_factory, monkeypatch,
                                                                        capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    out = tmp_path / "run"
    code = cli("gan", "--data", shapes_folder(tmp_path_factory), "--out", out, "--epochs", "1", "--tensorboard",
               *ARGS)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "--tensorboard needs the tensorboard package" in err and "pip install" in err
    assert not out.exists()
