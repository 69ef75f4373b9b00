"""Comparing two models on the same latent-bank seed and N (the compare view, ``latent-explorer compare``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from explorer.core.evaluation import ModelEvaluation, SnapshotEvaluator
from explorer.io.runtime import LoadedModel, open_model


@dataclass
class Comparison:
    """Two evaluations on the same latent-bank seed and N, and plain-language findings."""
    a: ModelEvaluation
    b: ModelEvaluation

    def findings(self) -> list[str]:
        """Sentences that name the better model for sharpness, Fréchet distance and coverage, then each verdict."""
        a, b = self.a, self.b
        out = []
        if math.isfinite(a.sharpness_ratio) and math.isfinite(b.sharpness_ratio):
            sharper, other = (a, b) if a.sharpness_ratio >= b.sharpness_ratio else (b, a)
            out.append(f"{sharper.name} is sharper: {sharper.sharpness_ratio:.0%} of real-image sharpness "
                       f"vs {other.sharpness_ratio:.0%} for {other.name}")
        elif math.isfinite(a.sharpness) and math.isfinite(b.sharpness):
            sharper, other = (a, b) if a.sharpness >= b.sharpness else (b, a)
            out.append(f"{sharper.name} is sharper (Laplacian variance {sharper.sharpness:.4f} vs {other.sharpness:.4f})")
        if a.report is not None and b.report is not None:
            ra, rb = a.report.metrics, b.report.metrics
            fa, fb = (a, b) if ra["fd"] <= rb["fd"] else (b, a)
            out.append(f"{fa.name} is closer to real data: Fréchet distance {fa.report.metrics['fd']:.2f} "
                       f"vs {fb.report.metrics['fd']:.2f} (real floor {a.report.floors['fd']:.2f})")
            ca, cb = (a, b) if ra["coverage"] >= rb["coverage"] else (b, a)
            out.append(f"{ca.name} covers more of the real data: coverage {ca.report.metrics['coverage']:.2f} "
                       f"vs {cb.report.metrics['coverage']:.2f} (real floor {a.report.floors['coverage']:.2f})")
        for ev in (a, b):  # each model's verdict; "not measured" and "inconclusive" say why
            hard = [al for al in ev.alarms if al.hard]
            if hard:
                out.append(f"{ev.name}: " + "; ".join(al.detail for al in hard))
            elif ev.inconclusive:
                out.append(f"{ev.name}: {ev.verdict_line()}")
            elif ev.report is not None:
                out.append(f"{ev.name}: no diversity alarm")
            else:
                out.append(f"{ev.name}: diversity not measured: {ev.note or 'no classifier'}")
        return out

    def to_dict(self) -> dict:
        return {"n": self.a.n, "seed": self.a.seed, "judged_by": self.a.judged_by, "a": self.a.to_dict(),
                "b": self.b.to_dict(), "findings": self.findings()}


def compare_models(a: LoadedModel | str | os.PathLike, b: LoadedModel | str | os.PathLike,
                   evaluator: SnapshotEvaluator) -> Comparison:
    """Evaluate two generators with one evaluator (same bank seed, same N, same classifier)."""
    ma = a if isinstance(a, LoadedModel) else open_model(a)
    mb = b if isinstance(b, LoadedModel) else open_model(b)
    return Comparison(evaluator.evaluate(ma), evaluator.evaluate(mb))
