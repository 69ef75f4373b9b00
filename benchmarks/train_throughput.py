"""Training throughput (images/s) of each model family on this machine, as JSON.

    python benchmarks/train_throughput.py [--steps 20] [--threads N] [--device cpu|cuda]

Times whole training steps (forward, backward, optimiser) on batches of real-sized random images,
after warm-up steps; reports the median over steps.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="(output is always JSON)")
    args = p.parse_args()

    import torch

    from training.config import default_config
    from training.models import build_modules
    from training.train import FAMILY_CLASSES

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    result = {"machine": platform.machine(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "device": str(device), "families": {}}
    for family in ("classifier", "vae", "gan"):
        cfg = default_config(family, class_names=tuple(str(i) for i in range(10)))
        modules = {k: m.to(device) for k, m in build_modules(cfg).items()}
        trainer = FAMILY_CLASSES[family](cfg, modules, device)
        gen = torch.Generator(device=device).manual_seed(0)
        x = torch.randint(0, 256, (cfg.batch_size, cfg.channels, cfg.image_size, cfg.image_size), dtype=torch.uint8)
        y = torch.randint(0, 10, (cfg.batch_size,))
        times = []
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            trainer.step(x, y, gen)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        result["families"][family] = {"batch_size": cfg.batch_size, "step_ms_median": round(med * 1e3, 2),
                                      "images_per_s": round(cfg.batch_size / med, 1),
                                      "epoch_s_fashion_mnist": round(60000 / (cfg.batch_size / med), 1)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
