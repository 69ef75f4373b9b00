"""The hand-run benchmarks still run and report what docs/explorer.md quotes (tiny repeat counts:
these check the plumbing and the agreement checks, never the speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GAN = ROOT / "assets" / "models" / "fashion-gan"
BENCH = ROOT / "benchmarks"


@pytest.fixture
def bench_helpers(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import _explorer_bench

    return _explorer_bench


def test_ort_vs_torch_reports_both_settings_of_each_runtime():
    pytest.importorskip("torch")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ort_vs_torch.py"), "--json", "--model", str(GAN),
         "--repeats", "2", "--rounds", "1", "--pause", "0"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    result = json.loads(out)
    (entry,) = result["runs"].values()
    assert entry["family"] == "gan" and entry["provider"] == "CPU"
    for batch in ("batch_1", "batch_64"):
        b = entry[batch]
        timed = [k for k, v in b.items() if isinstance(v, dict) and "p50_ms" in v]
        assert {"onnxruntime_app", "onnxruntime_defaults", "torch_1_thread"} <= set(timed)
        assert any(k.startswith("torch_threads_default(") for k in timed)
        assert all(b[k]["p50_ms"] > 0 and b[k]["n"] >= 2 for k in timed)
        best_ort = min(b["onnxruntime_app"]["p50_ms"], b["onnxruntime_defaults"]["p50_ms"])
        best_torch = min(v["p50_ms"] for k, v in b.items() if k.startswith("torch_") and "p50_ms" in v)
        assert b["speedup_p50"] == pytest.approx(best_torch / best_ort, abs=0.01)
        assert b["speedup_app_p50"] <= b["speedup_p50"] + 1e-9
        assert b["max_abs_diff"] < 1e-4  # the torch rebuild of the ONNX graph computes the same images
    assert set(entry["targets"]) == {"batch1_ge_5x", "batch64_ge_1.5x"}


# ---- the compute floor (benchmarks/_explorer_bench.py) ---------------------------------------------

def _graph(path, nodes, inputs, outputs, inits):
    import onnx
    from onnx import helper

    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_multiply_adds_are_counted_per_image_from_each_layers_shapes(bench_helpers, tmp_path):
    """Gemm (transB), MatMul, a grouped strided Conv and a ConvTranspose, counted by hand."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [helper.make_node("Gemm", ["z", "w1"], ["h"], transB=1),            # [N,6] x [10,6]^T: 6*10
             helper.make_node("MatMul", ["h", "w2"], ["g"]),                    # [N,10] x [10,32]: 10*32
             helper.make_node("Reshape", ["g", "shape"], ["x"]),                # [N,2,4,4]
             helper.make_node("Conv", ["x", "w3"], ["c"], group=2, strides=[2, 2], pads=[1, 1, 1, 1]),
             # out [N,4,2,2]; weight [4,1,3,3]: 16 outputs x 9 = 144
             helper.make_node("ConvTranspose", ["c", "w4"], ["image"], strides=[2, 2])]
             # in [N,4,2,2]; weight [4,3,2,2]: 16 inputs x 12 = 192
    inits = [init("w1", 10, 6), init("w2", 10, 32), init("w3", 4, 1, 3, 3), init("w4", 4, 3, 2, 2),
             numpy_helper.from_array(np.array([-1, 2, 4, 4], np.int64), "shape")]
    path = _graph(tmp_path / "m.onnx", nodes, [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 6])],
                  [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 4, 4])], inits)
    counted = bench_helpers.count_macs(path)
    assert counted["by_op"] == {"Gemm": 60, "MatMul": 320, "Conv": 144, "ConvTranspose": 192}
    assert counted["per_image"] == 716 and counted["nodes"] == 4


def test_shapes_shape_inference_cannot_tell_are_read_off_a_run(bench_helpers, tmp_path):
    """Resize by scales computed in the graph: the Conv after it is counted at the size it really runs at."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Add", ["half", "half"], ["scales"]),             # [1,1,2,2], not a constant
             helper.make_node("Resize", ["x", "", "scales"], ["up"], mode="nearest"),
             helper.make_node("Conv", ["up", "w"], ["y"], pads=[1, 1, 1, 1])]
    inits = [numpy_helper.from_array(np.array([0.5, 0.5, 1, 1], np.float32), "half"),
             numpy_helper.from_array(np.ones((5, 3, 3, 3), np.float32), "w")]
    path = _graph(tmp_path / "r.onnx", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5, "h", "w"])], inits)
    assert bench_helpers.count_macs(path)["by_op"] == {"Conv": 5 * 8 * 8 * 3 * 9}


def test_the_bundled_gan_costs_what_issue_16_says(bench_helpers):
    counted = bench_helpers.count_macs(GAN / "generator.onnx")
    assert counted["per_image"] == 7_526_400  # "its 7.5 M multiply-adds per image"


# ---- the runner, start-up, grid and GPU benchmarks, end to end with tiny settings --------------------

def test_make_bench_runs_every_script_and_gives_the_old_ones_small_settings(bench_helpers, monkeypatch):
    import _run_all

    names = [p.stem for p in _run_all.scripts(None)]
    assert {"grid", "startup", "map", "diversity"} <= set(names) and not any(n.startswith("_") for n in names)
    assert _run_all.command(BENCH / "grid.py", quick=True)[-1] == "--quick"  # takes --quick itself
    map_args = _run_all.command(BENCH / "map.py", quick=True)[2:]  # its own --quick, once it has one
    assert map_args in (["--json", *_run_all.QUICK_ARGS["map"]], ["--json", "--quick"])
    assert _run_all.command(BENCH / "diversity.py", quick=False)[2:] == ["--json"]
    assert _run_all.last_json('noise {"a": 1}\n{"b": {"c": 2}}\n') == {"b": {"c": 2}}
    with pytest.raises(SystemExit, match="expected benchmarks among"):
        _run_all.scripts(["no-such-benchmark"])


@pytest.mark.slow
def test_run_all_writes_each_result_and_a_summary(bench_helpers, tmp_path):
    import _run_all

    out = subprocess.run([sys.executable, str(BENCH / "_run_all.py"), "--quick", "--only", "diversity",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = _run_all.last_json(out.stdout)
    assert summary["benchmark"] == "all" and summary["results"]["diversity"]["status"] == "ok"
    written = json.loads((tmp_path / "diversity.json").read_text())
    assert written["benchmark"] == "diversity_snapshot" and written["p50_ms"] > 0


@pytest.mark.slow
def test_startup_times_the_app_and_the_floor_side_by_side(vae_bundle, gan_bundle):
    out = subprocess.run([sys.executable, str(BENCH / "startup.py"), "--json", "--repeats", "1",
                          str(vae_bundle), str(gan_bundle)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert r["floor_model"].endswith("decoder.onnx") and "vae" in r["floor_model"]
    app, floor = r["app"]["to_first_grid"], r["floor"]["to_first_grid"]
    assert app["n"] == floor["n"] == 1 and app["p50_ms"] > 0 and floor["p50_ms"] > 0
    assert r["ratio_p50"] == pytest.approx(app["p50_ms"] / floor["p50_ms"], abs=1e-3)
    assert r["app"]["to_exit"]["p50_ms"] >= app["p50_ms"]  # painted before the screenshot was written
    assert set(r["targets"]) == {"ratio_le_1.5"}


@pytest.mark.slow
def test_grid_reports_each_frame_against_the_compute_floor_it_measured(bench_helpers, vae_bundle, gan_bundle):
    out = subprocess.run([sys.executable, str(BENCH / "grid.py"), "--json", "--repeats", "2",
                          "--gan", str(gan_bundle), "--vae", str(vae_bundle)], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    threads = r["models"]["gan"]["onnxruntime_threads(small,grid)"][1]
    # one GEMM beside each full frame (2 + 10 of them per model: 8x8, then 16x16), on 1 and the grid's threads
    assert {str(t) for t in (1, threads)} == set(r["gemm"]["by_threads"])
    assert all(g["samples"] == 24 and g["best_gmacs"] > 0 for g in r["gemm"]["by_threads"].values())
    for family, bundle in (("gan", gan_bundle), ("vae", vae_bundle)):
        entry = r["models"][family]
        floor = entry["compute_floor"]
        assert floor["macs_per_image"] == bench_helpers.count_macs(next(bundle.glob("[dg]e*.onnx")))["per_image"]
        for size, cells in (("8x8", 64), ("16x16", 256)):
            assert floor[f"{size}_ms"] == pytest.approx(
                cells * floor["macs_per_image"] / (floor[f"{size}_gemm_gmacs"] * 1e9) * 1000, rel=1e-3)
            ratio, pairs = entry["ratio_to_floor"][size], entry["ratio_to_floor"][f"{size}_pairs"]
            assert 0 < pairs["min"] <= ratio <= pairs["max"] and pairs["n"] == entry[size]["full"]["n"]
        assert "_pairs" not in entry["8x8"] and "8x8_ratio_to_floor_le_2" in entry["targets"]
        mpl = entry["matplotlib_8x8"]
        assert isinstance(mpl, dict) or mpl.startswith("not installed")


@pytest.mark.slow
def test_the_gpu_check_without_a_gpu_says_why_and_gives_the_cpu_figures(tmp_path):
    pytest.importorskip("onnx")
    out_json = tmp_path / "gpu.json"
    env = {**os.environ, "GPU_CHECK_PYTHON": sys.executable, "GPU_CHECK_QUICK": "1", "PATH": os.environ["PATH"]}
    out = subprocess.run(["bash", str(BENCH / "gpu_check.sh"), str(out_json)], capture_output=True, text=True,
                         timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out_json.read_text())
    assert r["setup"]["how"] == f"used {sys.executable}"  # set up nothing: this Python has what it needs
    rgb = r["decoders"]["rgb256 decoder, built here (256x256x3)"]
    assert rgb["macs_per_image"] == 393_740_288  # 0.4 G multiply-adds: real work for a GPU
    for entry in r["decoders"].values():
        cpu = entry["runs"]["cpu"]
        assert cpu["providers_used"] == ["CPUExecutionProvider"] and cpu["8x8"]["p50_ms"] > 0
    if not r["gpu"]["present"]:
        assert not r["cuda_used"] and r["cuda_unavailable_because"].startswith("unavailable")
        assert r["providers_really_used"] == ["CPUExecutionProvider"]
