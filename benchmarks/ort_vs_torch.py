"""The same decoder through onnxruntime (as the app runs it) vs PyTorch eager, batch 1 and 64.

    python benchmarks/ort_vs_torch.py --json [--run RUN_DIR ...]

RUN_DIR is a training run folder (checkpoints/last.pt + model/). The torch side rebuilds the module
with training.models and loads the checkpoint (weights_only); the ONNX side opens model/ with
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


def time_calls(fn, repeats: int) -> list[float]:
    for _ in range(3):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--run", action="append", help="training run folder (repeatable)")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    runs = [Path(r) for r in (args.run or [])] or sorted(p for p in (ROOT / "runs").glob("*")
                                                         if (p / "checkpoints" / "last.pt").is_file())
    if not runs:
        raise SystemExit("benchmark: expected --run RUN_DIR (a run folder with checkpoints/last.pt and model/)")
    import torch

    from explorer.runtime import open_model

    result = {"benchmark": "ort_vs_torch", "machine": machine(), "torch": torch.__version__, "runs": {}}
    default_threads = torch.get_num_threads()
    for run in runs:
        model = open_model(run / "model")
        fn, cfg = torch_decoder(run)
        entry = {"family": cfg.family, "provider": model.provider, "latent_dim": model.latent_dim}
        rng = np.random.default_rng(0)
        for batch in (1, 64):
            z = rng.standard_normal((batch, model.latent_dim)).astype(np.float32)
            zt = torch.from_numpy(z)
            reps = args.repeats if batch == 1 else max(10, args.repeats // 4)
            with torch.inference_mode():
                diff = float(np.abs(fn(zt).numpy() - model.decode_raw(z)).max())
                torch.set_num_threads(1)
                t_torch = time_calls(lambda: fn(zt), reps)
                torch.set_num_threads(default_threads)
                t_torch_default = time_calls(lambda: fn(zt), reps)
            t_ort = time_calls(lambda: model.decode_raw(z), reps)
            t_ort_u8 = time_calls(lambda: model.decode(z), reps)
            o, t = stats_ms(t_ort), stats_ms(t_torch)
            entry[f"batch_{batch}"] = {
                "onnxruntime": o, "onnxruntime_to_uint8": stats_ms(t_ort_u8), "torch_1_thread": t,
                f"torch_threads_default({default_threads})": stats_ms(t_torch_default),
                "speedup_p50": round(t["p50_ms"] / o["p50_ms"], 2), "max_abs_diff": diff}
        entry["targets"] = {"batch1_ge_5x": entry["batch_1"]["speedup_p50"] >= 5,
                            "batch64_ge_1.5x": entry["batch_64"]["speedup_p50"] >= 1.5}
        result["runs"][str(run)] = entry
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
