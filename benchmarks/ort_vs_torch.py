"""The same decoder through onnxruntime vs PyTorch eager, batch 1 and 64.

    python benchmarks/ort_vs_torch.py --json [--run RUN_DIR ...] [--model BUNDLE ...]

RUN_DIR is a training run folder (checkpoints/last.pt + model/): the torch side rebuilds the module
with training.models and loads the checkpoint (weights_only). BUNDLE is an exported bundle (default:
the bundled VAE and GAN): the torch module is rebuilt layer by layer from the ONNX graph and
checked against onnxruntime before timing.

Each runtime is timed in two settings, and ``speedup_p50`` compares the faster of each:
- onnxruntime as the app runs it (explorer.io.runtime: one intra-op thread under batch 16, two above
  on a 2-core machine, no spinning) and with its own defaults (``InferenceSession(path)``: one
  thread per core, worker threads spinning between calls);
- torch with one thread and with its default count (one per core; OpenMP's workers also spin a
  while after each call).
Settings are timed in interleaved rounds with a pause between them, so spinning threads from one
setting have gone to sleep before the next is timed and slow drift of the machine hits all alike.
Benchmarks may import torch; the app never does.
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace
from pathlib import Path

import numpy as np

from _explorer_bench import emit, machine, stats_ms


PAUSE_S = 0.15  # ORT's spinning workers measured asleep within ~50 ms of a call, OpenMP's ~10 ms


def time_settings(settings: dict, repeats: int, rounds: int = 5, pause: float = PAUSE_S
                  ) -> dict[str, tuple[list, list]]:
    """settings: name -> (setup, fn). Times fn in ``rounds`` interleaved blocks per setting (setup
    first, 3 warm-up calls, a pause before each block). Returns name -> (wall s, process CPU s) per call."""
    out = {name: ([], []) for name in settings}
    per_round = max(1, -(-repeats // rounds))
    for _ in range(rounds):
        for name, (setup, fn) in settings.items():
            setup()
            for _ in range(3):
                fn()
            time.sleep(pause)
            fn()
            wall, cpu = out[name]
            for _ in range(per_round):
                c0 = time.process_time()
                t0 = time.perf_counter()
                fn()
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
    return out


def torch_decoder(run: Path):
    import torch

    from training.config import TrainConfig
    from training.models import build_modules

    ckpt = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    cfg = TrainConfig.from_dict(ckpt["config"])
    modules = build_modules(cfg)
    for name, module in modules.items():
        module.load_state_dict(ckpt["modules"][name])
        module.eval()
    if cfg.family == "vae":
        dec = modules["vae"].decoder
        return lambda z: torch.sigmoid(dec(z)), cfg
    gen = modules["generator"]
    return gen, cfg


def torch_from_onnx(bundle: Path):
    """Rebuild the decoder/generator of an exported bundle as a torch nn.Sequential, layer by layer
    from its ONNX graph (a chain: Gemm/MatMul, Reshape, Conv, BatchNormalization, Resize,
    ConvTranspose and activations). Batch norms the exporter folded into convolutions stay folded,
    which only makes the torch side faster."""
    import onnx
    import torch
    from onnx import numpy_helper
    from torch import nn

    from explorer.io.contract import ModelCard
    from explorer.io.onnx_file import DECODING_ROLES, resolve_onnx_file

    path = resolve_onnx_file(bundle, DECODING_ROLES)
    proto = onnx.load(str(path))
    card = ModelCard.from_metadata({p.key: p.value for p in proto.metadata_props}, source=path.name)
    values = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    layers = []

    def weight(name):
        return torch.from_numpy(values[name].copy())

    def unsupported(node):
        raise SystemExit(f"benchmark: {path.name} has a {node.op_type} node the torch rebuild does not know")

    for node in proto.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op, ins = node.op_type, list(node.input)
        if op in ("Identity", "Constant"):
            if op == "Constant":
                values[node.output[0]] = numpy_helper.to_array(attrs["value"])
            elif ins[0] in values:
                values[node.output[0]] = values[ins[0]]
            else:
                unsupported(node)
            continue
        if op in ("Gemm", "MatMul"):
            w = values[ins[1]]
            if op == "Gemm" and not attrs.get("transB", 0):
                w = w.T
            elif op == "MatMul":
                w = w.T  # MatMul computes z @ W, nn.Linear z @ W^T
            layer = nn.Linear(w.shape[1], w.shape[0], bias=len(ins) > 2)
            layer.weight.data = torch.from_numpy(np.array(w, dtype=np.float32, order="C"))
            if len(ins) > 2:
                layer.bias.data = weight(ins[2])
        elif op == "Add" and layers and isinstance(layers[-1], nn.Linear) and layers[-1].bias is None:
            layers[-1].bias = nn.Parameter(weight(ins[1]))
            continue
        elif op == "Reshape":
            layer = nn.Unflatten(1, tuple(int(d) for d in values[ins[1]][1:]))
        elif op in ("Conv", "ConvTranspose"):
            w = values[ins[1]]
            k, stride, pad = w.shape[2], attrs.get("strides", [1])[0], attrs.get("pads", [0])[0]
            if op == "Conv":
                layer = nn.Conv2d(w.shape[1], w.shape[0], k, stride, pad, bias=len(ins) > 2)
            else:
                layer = nn.ConvTranspose2d(w.shape[0], w.shape[1], k, stride, pad, bias=len(ins) > 2)
            layer.weight.data = weight(ins[1])
            if len(ins) > 2:
                layer.bias.data = weight(ins[2])
        elif op == "BatchNormalization":
            layer = nn.BatchNorm2d(values[ins[1]].shape[0], eps=attrs.get("epsilon", 1e-5))
            layer.weight.data, layer.bias.data = weight(ins[1]), weight(ins[2])
            layer.running_mean.data, layer.running_var.data = weight(ins[3]), weight(ins[4])
        elif op == "Resize" and attrs.get("mode", b"nearest") in (b"nearest", "nearest"):
            scales = values[ins[2]]
            layer = nn.Upsample(scale_factor=float(scales[-1]), mode="nearest")
        elif op in ("Relu", "Sigmoid", "Tanh"):
            layer = {"Relu": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh}[op]()
        elif op == "LeakyRelu":
            layer = nn.LeakyReLU(attrs.get("alpha", 0.01))
        else:
            unsupported(node)
        layers.append(layer)
    module = nn.Sequential(*layers).eval()
    cfg = SimpleNamespace(family=card.family, width=None)
    return module, cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--run", action="append", help="training run folder (repeatable)")
    ap.add_argument("--model", action="append", help="exported bundle or .onnx (repeatable)")
    ap.add_argument("--repeats", type=int, default=50, help="timed calls per setting at batch 1 (batch 64: a quarter)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved blocks per setting")
    ap.add_argument("--pause", type=float, default=PAUSE_S, help="seconds of rest before each block")
    args = ap.parse_args()
    from explorer.io.paths import bundled_model

    targets = [("run", Path(r)) for r in (args.run or [])] + [("model", Path(m)) for m in (args.model or [])]
    if not targets:
        targets = [("model", bundled_model(f)) for f in ("vae", "gan") if bundled_model(f).is_dir()]
    if not targets:
        raise SystemExit("benchmark: expected --run RUN_DIR or --model BUNDLE (no bundled models found)")
    import dataclasses

    import onnxruntime as ort
    import torch

    from explorer.io.providers import cpu_thread_counts
    from explorer.io.runtime import open_model

    result = {"benchmark": "ort_vs_torch", "machine": machine(), "torch": torch.__version__,
              "onnxruntime": ort.__version__, "runs": {}}
    # _explorer_bench pins OMP_NUM_THREADS=1 for numpy; torch's own default is one thread per core
    default_threads = max(torch.get_num_threads(), os.cpu_count() or 1)
    torch_default = f"torch_threads_default({default_threads})"
    for kind, run in targets:
        if kind == "run":
            model = open_model(run / "model")
            fn, cfg = torch_decoder(run)
        else:
            model = open_model(run)
            fn, cfg = torch_from_onnx(run)
        # onnxruntime with nothing tuned, as a notebook would open it; every batch goes through it
        plain = ort.InferenceSession(str(model.path), providers=model.session.get_providers())
        model_plain = dataclasses.replace(model, session=plain, batch_session=None, _batch_session_tried=True)
        entry = {"family": cfg.family, "torch_weights": "checkpoint" if kind == "run" else "onnx graph",
                 "provider": model.provider, "latent_dim": model.latent_dim, "width": cfg.width,
                 "onnxruntime_app_threads(small,grid)": list(cpu_thread_counts())}
        rng = np.random.default_rng(0)
        for batch in (1, 64):
            z = rng.standard_normal((batch, model.latent_dim)).astype(np.float32)
            zt = torch.from_numpy(z)
            reps = args.repeats if batch == 1 else max(min(10, args.repeats), args.repeats // 4)
            with torch.inference_mode():
                diff = float(np.abs(fn(zt).numpy() - model.decode_raw(z)).max())
                diff_plain = float(np.abs(model_plain.decode_raw(z) - model.decode_raw(z)).max())
                if max(diff, diff_plain) > 1e-3:
                    raise SystemExit(f"benchmark: torch and onnxruntime disagree by {diff:.2e} on {run}")
                timed = time_settings({
                    "onnxruntime_app": (lambda: None, lambda: model.decode_raw(z)),
                    "onnxruntime_defaults": (lambda: None, lambda: model_plain.decode_raw(z)),
                    "torch_1_thread": (lambda: torch.set_num_threads(1), lambda: fn(zt)),
                    torch_default: (lambda: torch.set_num_threads(default_threads), lambda: fn(zt)),
                }, reps, args.rounds, args.pause)
            wall = {k: stats_ms(v[0]) for k, v in timed.items()}
            cpu = {k: stats_ms(v[1]) for k, v in timed.items()}
            p50 = {k: v["p50_ms"] for k, v in wall.items()}
            best_ort = min(p50["onnxruntime_app"], p50["onnxruntime_defaults"])
            best_torch = min(p50["torch_1_thread"], p50[torch_default])
            entry[f"batch_{batch}"] = {
                **wall,
                "onnxruntime_app_to_uint8": stats_ms(time_settings(
                    {"u8": (lambda: None, lambda: model.decode(z))}, reps, 1, 0.0)["u8"][0]),
                # each runtime at its faster setting: the like-for-like figure the targets use
                "speedup_p50": round(best_torch / best_ort, 2),
                # the app's own setting against torch's faster one
                "speedup_app_p50": round(best_torch / p50["onnxruntime_app"], 2),
                # both runtimes as they come: one thread per core, workers spinning between calls
                "speedup_defaults_p50": round(p50[torch_default] / p50["onnxruntime_defaults"], 2),
                "speedup_1_thread_p50": (round(p50["torch_1_thread"] / p50["onnxruntime_app"], 2)
                                         if cpu_thread_counts()[0] == 1 and batch < 16 else None),
                # process CPU per call (spinning workers count here): robust when other jobs share the cores
                "cpu_per_call": cpu,
                "max_abs_diff": diff}
        entry["targets"] = {"batch1_ge_5x": entry["batch_1"]["speedup_p50"] >= 5,
                            "batch64_ge_1.5x": entry["batch_64"]["speedup_p50"] >= 1.5}
        result["runs"][str(run)] = entry
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
