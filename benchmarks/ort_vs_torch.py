"""The same decoder through onnxruntime (as the app runs it) vs PyTorch eager, batch 1 and 64.

    python benchmarks/ort_vs_torch.py --json [--run RUN_DIR ...] [--model BUNDLE ...]

RUN_DIR is a training run folder (checkpoints/last.pt + model/): the torch side rebuilds the module
with training.models and loads the checkpoint (weights_only). BUNDLE is an exported bundle (default:
the bundled VAE and GAN): the torch module is rebuilt from the ONNX initialisers (whose names are the
state_dict keys) and checked against onnxruntime before timing. The ONNX side opens the model with
explorer.runtime (one intra-op thread, no spinning). Torch also gets one thread, for a like-for-like
comparison; ``torch_threads_default`` reports torch with its own thread count too.
Benchmarks may import torch; the app never does.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _explorer_bench import ROOT, emit, machine, stats_ms


CPU_TIMES: dict[int, list[float]] = {}


def time_calls(fn, repeats: int) -> list[float]:
    """Wall seconds per call; the process CPU seconds per call go to CPU_TIMES[id(list)]."""
    for _ in range(3):
        fn()
    out, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU_TIMES[id(out)] = cpu
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
    """Rebuild the PyTorch decoder/generator of an exported bundle from its ONNX initialisers."""
    import onnx
    import torch
    from onnx import numpy_helper

    from explorer.runtime import resolve_model_file
    from training.config import default_config
    from training.models import Decoder, Generator

    path, _ = resolve_model_file(bundle)
    proto = onnx.load(str(path))
    from explorer.contract import ModelCard

    card = ModelCard.from_metadata({p.key: p.value for p in proto.metadata_props}, source=path.name)
    weights = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    if card.family == "vae":
        state = {k[len("decoder."):]: v for k, v in weights.items() if k.startswith("decoder.")}
        width = state["deconv.4.weight"].shape[1]
        cfg = default_config("vae", latent_dim=card.latent_dim, width=width, image_size=card.image_height,
                             channels=card.image_channels)
        module = Decoder(cfg)
        fn = lambda z: torch.sigmoid(module(z))  # noqa: E731  (the exported decoder ends in a sigmoid)
    else:
        state = {k: v for k, v in weights.items() if not k.startswith("onnx::")}
        fc = [v for k, v in weights.items() if k.startswith("onnx::") and v.shape[0] == card.latent_dim]
        state["fc.weight"] = fc[0].T  # the exporter stores Linear(bias=False) as MatMul by W^T
        width = state["net.8.weight"].shape[1]
        cfg = default_config("gan", latent_dim=card.latent_dim, width=width, image_size=card.image_height,
                             channels=card.image_channels)
        module = Generator(cfg)
        fn = module
    missing = module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()}, strict=False)
    if [k for k in missing.missing_keys if not k.endswith("num_batches_tracked")] or missing.unexpected_keys:
        raise SystemExit(f"benchmark: could not map the ONNX weights of {path} onto {type(module).__name__} "
                         f"({missing})")
    module.eval()
    return fn, cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--run", action="append", help="training run folder (repeatable)")
    ap.add_argument("--model", action="append", help="exported bundle or .onnx (repeatable)")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    from explorer.paths import bundled_model

    targets = [("run", Path(r)) for r in (args.run or [])] + [("model", Path(m)) for m in (args.model or [])]
    if not targets:
        targets = [("model", bundled_model(f)) for f in ("vae", "gan") if bundled_model(f).is_dir()]
    if not targets:
        raise SystemExit("benchmark: expected --run RUN_DIR or --model BUNDLE (no bundled models found)")
    import torch

    from explorer.runtime import open_model

    result = {"benchmark": "ort_vs_torch", "machine": machine(), "torch": torch.__version__, "runs": {}}
    default_threads = torch.get_num_threads()
    for kind, run in targets:
        if kind == "run":
            model = open_model(run / "model")
            fn, cfg = torch_decoder(run)
        else:
            model = open_model(run)
            fn, cfg = torch_from_onnx(run)
        entry = {"family": cfg.family, "torch_weights": "checkpoint" if kind == "run" else "onnx initialisers",
                 "provider": model.provider, "latent_dim": model.latent_dim, "width": cfg.width}
        rng = np.random.default_rng(0)
        for batch in (1, 64):
            z = rng.standard_normal((batch, model.latent_dim)).astype(np.float32)
            zt = torch.from_numpy(z)
            reps = args.repeats if batch == 1 else max(10, args.repeats // 4)
            with torch.inference_mode():
                diff = float(np.abs(fn(zt).numpy() - model.decode_raw(z)).max())
                if diff > 1e-3:
                    raise SystemExit(f"benchmark: torch and onnxruntime disagree by {diff:.2e} on {run}")
                torch.set_num_threads(1)
                t_torch = time_calls(lambda: fn(zt), reps)
                torch.set_num_threads(default_threads)
                t_torch_default = time_calls(lambda: fn(zt), reps)
            t_ort = time_calls(lambda: model.decode_raw(z), reps)
            t_ort_u8 = time_calls(lambda: model.decode(z), reps)
            o, t = stats_ms(t_ort), stats_ms(t_torch)
            o_cpu, t_cpu = stats_ms(CPU_TIMES[id(t_ort)]), stats_ms(CPU_TIMES[id(t_torch)])
            entry[f"batch_{batch}"] = {
                "onnxruntime": o, "onnxruntime_to_uint8": stats_ms(t_ort_u8), "torch_1_thread": t,
                f"torch_threads_default({default_threads})": stats_ms(t_torch_default),
                "speedup_p50": round(t["p50_ms"] / o["p50_ms"], 2),
                # CPU time per call (both sides single-threaded): robust when other jobs share the cores
                "onnxruntime_cpu": o_cpu, "torch_1_thread_cpu": t_cpu,
                "speedup_cpu_p50": round(t_cpu["p50_ms"] / max(o_cpu["p50_ms"], 1e-6), 2),
                "max_abs_diff": diff}
        entry["targets"] = {"batch1_ge_5x": entry["batch_1"]["speedup_p50"] >= 5,
                            "batch64_ge_1.5x": entry["batch_64"]["speedup_p50"] >= 1.5}
        result["runs"][str(run)] = entry
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
