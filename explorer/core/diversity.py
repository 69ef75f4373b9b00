"""The numeric core of the mode-collapse monitor: real reference, snapshot report, alarms.

A snapshot is: decode a fixed :class:`LatentBank` with the generator, classify the images, and hand
the classifier outputs (logits [N, K], features [N, F]) to :func:`diversity_report`. Every metric is
shown next to its **noise floor**: the value a perfect generator would get at the same N, measured
by running the very same computation on held-out real images (see :class:`RealReference`).
Which metrics and snapshot alarms there are is declared once, in ``explorer.core.diversity_metrics``.

Training-curve alarms (:func:`gan_curve_alarms`) and the VAE posterior-collapse check
(:func:`vae_curve_alarms`, :func:`posterior_collapse_alarms`) work on the per-epoch rows of
``metrics.jsonl``.

numpy only: no torch, no Qt (the app runs this in a worker thread).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from explorer.core import metrics as M
from explorer.core.diversity_metrics import (ALARM, ALARMS, INCONCLUSIVE, METRICS, MIN_VERDICT_N, Evidence, Judgement,
                                             SnapshotOutputs, barely_trained, measure, strong_collapse,
                                             thin_evidence)

# --------------------------------------------------------------------------------------------
# Training-curve thresholds (the snapshot alarms' thresholds live with their checks in diversity_metrics).

# GAN curves. A healthy DCGAN keeps epoch means of D(x) around 0.5-0.8 and D(G(z)) around 0.2-0.5;
# D(x) >= 0.95 with D(G(z)) <= 0.05 means D separates real from fake outright and G's gradient
# carries little information. Two epochs in a row, so one odd epoch does not alarm.
D_X_WIN = 0.95
D_G_Z_WIN = 0.05
WIN_EPOCHS = 2
# Oscillation: every epoch-to-epoch step in the window reverses direction, with swings of >= 20 %
# of the level. Epoch means average hundreds of batches, so honest noise is far smaller than that.
OSC_WINDOW = 6
OSC_REL_AMPLITUDE = 0.20

# VAE. A latent dimension with KL < 0.01 nats carries essentially no information about x; the
# active-unit rule (Cov_x E[z|x] > 0.01, Burda et al. 2016) is on the same scale.
KL_DIM_ACTIVE = 0.01
# Fewer than a quarter of the latent dimensions in use is partial posterior collapse (Fashion-MNIST
# VAEs typically use about half of D = 16-32); for D = 2 that is "no dimension in use".
MIN_ACTIVE_FRACTION = 0.25
# Active units falling to half of their best value within the last ACTIVE_DROP_WINDOW epochs: the
# posterior is collapsing. Windowed because a healthy VAE prunes dimensions slowly from epoch 1 on
# (measured, bundled VAE config: 31 active units at epoch 1, 23 at 6, 17 at 18, 14 at 29, with 14
# informative dimensions of 32): that settling is not collapse; a sudden halving is.
ACTIVE_DROP_RATIO = 0.5
ACTIVE_DROP_WINDOW = 5

CACHE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Alarm:
    """One reason for concern: a short machine name, a one-line explanation with numbers, and its
    severity: "alarm", or "inconclusive" when the evidence is too thin for it to mean collapse
    (``diversity_metrics.thin_evidence``)."""
    name: str
    detail: str
    severity: str = ALARM

    @property
    def hard(self) -> bool:
        return self.severity == ALARM

    def to_dict(self) -> dict:
        return {"name": self.name, "detail": self.detail, "severity": self.severity}


# --------------------------------------------------------------------------------------------
# Latent bank


@dataclass(frozen=True, eq=False)
class LatentBank:
    """Fixed latent vectors z ~ N(0, I), float32 [n, dim], drawn once from ``seed``.

    Decode the same bank at every snapshot so monitor curves show the model changing, not sampling
    noise (the fixed-noise idea of the DCGAN example). Equal (n, dim, seed) give equal banks.
    """
    n: int
    dim: int
    seed: int = 0
    z: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        if self.n < 1 or self.dim < 1:
            raise ValueError(f"LatentBank needs n >= 1 and dim >= 1, got n={self.n}, dim={self.dim}")
        z = np.random.default_rng(self.seed).standard_normal((self.n, self.dim), dtype=np.float32)
        z.setflags(write=False)
        object.__setattr__(self, "z", z)

    def __len__(self) -> int:
        return self.n

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Consecutive read-only slices float32 [<= batch_size, dim] covering the bank in order."""
        for s in range(0, self.n, batch_size):
            yield self.z[s:s + batch_size]

    @property
    def fingerprint(self) -> str:
        """Short hash of the vectors: two snapshots are comparable only if this matches."""
        return hashlib.sha256(self.z.tobytes()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"n": self.n, "dim": self.dim, "seed": self.seed, "fingerprint": self.fingerprint}


# --------------------------------------------------------------------------------------------
# Real reference


def file_fingerprint(path: str | os.PathLike) -> str:
    """sha256 (first 16 hex digits) of a file: a cache key for a classifier .onnx."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class StaleReference(ValueError):
    """A cached reference belongs to another classifier or dataset, or an older cache format."""


@dataclass(eq=False)
class RealReference:
    """Statistics of real classifier outputs, computed once per (classifier, dataset).

    The real set is split (seeded) into a **reference pool** that the statistics come from and a
    disjoint **holdout pool** that plays the generator when measuring noise floors:

    mean [F], cov [F, F]         Gaussian fit of the reference pool (float64), n_real samples
    class_shares [K]             predicted-class histogram of the reference pool
    ndb_centres [B, F]           k-means bins (B ~ 100, seeded) and the pool's shares ndb_shares [B]
    knn_features [R, F]          real subset for precision/recall/density/coverage, float32 ...
    knn_radii [R, 2]             ... and its k-NN radii at (k_precision, k_density), feature units
    dup_threshold                closest real-real distance in knn_features (near duplicates)
    real_sharpness               mean Laplacian variance of the real images ([0, 1] pixels; NaN if unknown),
                                 the yardstick for a generator's sharpness (see explorer.core.monitor)
    holdout_features [H, F], holdout_logits [H, K]   held-out real outputs for the floors

    The floor at N is the mean (and spread) over ``floor_repeats`` seeded draws of N holdout
    samples of the exact snapshot computation, i.e. two disjoint real sets compared the way a
    generator is compared. Floors are cached per N (:meth:`floor`) and saved with the rest.
    """
    mean: np.ndarray
    cov: np.ndarray
    n_real: int
    class_shares: np.ndarray
    ndb_centres: np.ndarray
    ndb_shares: np.ndarray
    knn_features: np.ndarray
    knn_radii: np.ndarray
    dup_threshold: float
    holdout_features: np.ndarray
    holdout_logits: np.ndarray
    classifier_id: str = ""
    dataset_id: str = ""
    k_precision: int = 3
    k_density: int = 5
    ndb_alpha: float = 0.05
    seed: int = 0
    floor_repeats: int = 5
    real_sharpness: float = float("nan")
    space: str = ""  # what the features are, as reports name it ("" = the classifier's features)
    pixel_dup_threshold: float = float("nan")  # closest real-real pair in pixels ([0, 1], L2), pixel references only
    pixel_holdout: np.ndarray | None = field(default=None, repr=False)  # uint8 [H, P] real images for its floor
    floors: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    floor_names: tuple[str, ...] = field(default=(), repr=False)  # the metric keys the floors' columns hold

    def __post_init__(self):
        self.floor_names = tuple(self.floor_names) or self.metric_keys()
        # Derived, never saved: the cached square root for FD and centred float32 k-NN arrays.
        self.mean = np.asarray(self.mean, np.float64)
        self.cov = np.asarray(self.cov, np.float64)
        self.sqrt_cov = M.sqrtm_psd(self.cov)
        self._center = self.mean.astype(np.float32)
        self._knn_w = np.ascontiguousarray(np.asarray(self.knn_features, np.float32) - self._center)
        self._knn_sq = np.einsum("ij,ij->i", self._knn_w, self._knn_w)
        r_sq = np.asarray(self.knn_radii, np.float64) ** 2
        self._rp_sq = np.ascontiguousarray(r_sq[:, 0], np.float32)
        self._rd_sq = np.ascontiguousarray(r_sq[:, 1], np.float32)

    def __repr__(self) -> str:
        return (f"RealReference(classifier_id={self.classifier_id!r}, dataset_id={self.dataset_id!r}, "
                f"F={self.n_features}, K={self.n_classes}, n_real={self.n_real}, "
                f"knn={len(self.knn_features)}, holdout={len(self.holdout_features)}, "
                f"ndb_bins={len(self.ndb_centres)}, floors at N={sorted(self.floors)})")

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_classes(self) -> int:
        """Classes of the classifier (0: a reference without classes, e.g. a random projection of pixels)."""
        return int(np.asarray(self.class_shares).shape[0])

    def metric_keys(self) -> tuple[str, ...]:
        """The registered metrics this reference measures (those of predicted classes only when it has classes)."""
        return tuple(m.key for m in METRICS if self.n_classes or not m.classes)

    # ---- building

    @classmethod
    def build(cls, logits: np.ndarray, features: np.ndarray, *, classifier_id: str = "",
              dataset_id: str = "", n_knn: int = 1000, n_holdout: int | None = None,
              k_precision: int = 3, k_density: int = 5, ndb_bins: int = 100, ndb_alpha: float = 0.05,
              ndb_fit_max: int = 20000, seed: int = 0, floor_ns: Sequence[int] = (1000,),
              floor_repeats: int = 5) -> "RealReference":
        """Reference from real classifier outputs: logits [T, K], features [T, F] (e.g. the test split).

        n_holdout: size of the holdout pool for floors (default min(5000, T // 2)); it must be at
        least the largest N you will monitor at. n_knn: real subset size for the k-NN metrics
        (use the monitor's N: the k-NN metrics are defined for equal-sized sets). ndb_fit_max caps
        the points k-means is fitted on. Floors for ``floor_ns`` are computed now; others on demand.
        """
        logits = np.asarray(logits, np.float32)
        features = np.asarray(features, np.float32)
        if logits.ndim != 2 or features.ndim != 2 or len(logits) != len(features):
            raise ValueError(f"expected logits [T, K] and features [T, F] with the same T, "
                             f"got {logits.shape} and {features.shape}")
        t = len(features)
        n_holdout = min(5000, t // 2) if n_holdout is None else int(n_holdout)
        if not 0 < n_holdout < t:
            raise ValueError(f"n_holdout must be in 1..{t - 1} for {t} real samples, got {n_holdout}")
        ss = np.random.SeedSequence(seed)
        split_rng, knn_rng, km_rng = (np.random.default_rng(s) for s in ss.spawn(3))
        order = split_rng.permutation(t)
        hold, pool = np.sort(order[:n_holdout]), np.sort(order[n_holdout:])
        pool_f = features[pool]
        if len(pool_f) <= max(k_precision, k_density):
            raise ValueError(f"{len(pool_f)} reference samples are too few for k = {k_density}; "
                             f"pass more real samples or a smaller n_holdout")
        mean, cov = M.gaussian_stats(pool_f)
        class_shares = (np.bincount(logits[pool].argmax(axis=1), minlength=logits.shape[1]) / len(pool)
                        if logits.shape[1] else np.zeros(0))

        fit = pool_f if len(pool_f) <= ndb_fit_max else pool_f[np.sort(km_rng.choice(len(pool_f), ndb_fit_max, replace=False))]
        bins = min(ndb_bins, len(fit))
        centres, _ = M.kmeans(fit, bins, seed=int(km_rng.integers(2**31)))
        ndb_shares = np.bincount(M.assign_bins(pool_f, centres), minlength=bins) / len(pool_f)

        knn_idx = np.sort(knn_rng.choice(len(pool_f), min(n_knn, len(pool_f)), replace=False))
        knn_f = pool_f[knn_idx]
        radii = M.knn_radii(knn_f, [k_precision, k_density]).astype(np.float64)
        ref = cls(mean=mean, cov=cov, n_real=len(pool_f), class_shares=class_shares,
                  ndb_centres=centres, ndb_shares=ndb_shares, knn_features=knn_f, knn_radii=radii,
                  dup_threshold=M.closest_pair_distance(knn_f), holdout_features=features[hold],
                  holdout_logits=logits[hold], classifier_id=classifier_id, dataset_id=dataset_id,
                  k_precision=k_precision, k_density=k_density, ndb_alpha=ndb_alpha, seed=seed,
                  floor_repeats=floor_repeats)
        for n in floor_ns:
            ref.floor(n)
        return ref

    # ---- metrics

    def metrics(self, logits: np.ndarray, features: np.ndarray, asked: np.ndarray | None = None,
                class_names: tuple[str, ...] = ()) -> tuple[dict[str, float], list[float]]:
        """Every registered snapshot metric of one set of classifier outputs, logits [N, K], features [N, F].

        Returns ({key: value} over ``diversity_metrics.METRICS``, class histogram [K]). Units:
        kl/entropy/ndb_js in nats, fd in squared feature units, the rest shares in [0, 1] (density: ratio, ~1).
        asked / class_names: a conditional model's asked classes (``SnapshotOutputs``): metrics that apply
        only to those (``MetricSpec.applies``) are measured, with their per-class parts.
        """
        logits = np.asarray(logits)
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"features must be [N, {self.n_features}] (this reference's classifier), "
                             f"got {features.shape}; rebuild the reference for a new classifier")
        if logits.ndim != 2 or logits.shape != (len(features), self.n_classes):
            raise ValueError(f"logits must be [N, {self.n_classes}] with N = {len(features)}, got {logits.shape}")
        if len(features) <= max(self.k_precision, self.k_density):
            raise ValueError(f"need more than {max(self.k_precision, self.k_density)} samples, got {len(features)}")
        outputs = SnapshotOutputs(self, logits, features, asked, class_names)
        values = measure(outputs)  # the metrics of predicted classes only when this reference has classes
        return values, (outputs.class_stats["histogram"] if self.n_classes else [])

    def frechet_distance(self, features: np.ndarray) -> float:
        """Fréchet distance of the Gaussian fit of features [N, F] to the reference pool's."""
        mu, sigma = M.gaussian_stats(features)
        return M.frechet_distance(self.mean, self.cov, mu, sigma, sqrt_sigma1=self.sqrt_cov)

    def manifold(self, features: np.ndarray) -> dict:
        """precision, recall, density, coverage and near_dup_rate of features [N, F] (one k-NN pass)."""
        fake_w = np.asarray(features, np.float32) - self._center
        return M.manifold_pass(self._knn_w, self._knn_sq, self._rp_sq, self._rd_sq, fake_w,
                               k_precision=self.k_precision, k_density=self.k_density,
                               dup_sq=float(self.dup_threshold) ** 2)

    def ndb(self, features: np.ndarray) -> dict:
        """ndb_fraction and ndb_js of features [N, F] against the reference's k-means bins."""
        return M.ndb(features, self.ndb_centres, self.ndb_shares, self.n_real, alpha=self.ndb_alpha)

    def floor(self, n: int) -> tuple[dict[str, float], dict[str, float]]:
        """Real-vs-real floor at sample size n: ({metric: mean}, {metric: std}) over floor_repeats
        seeded draws of n holdout samples. Cached per n; deterministic for a given reference.

        Floors computed for another set of registered metrics are dropped and computed again."""
        n = int(n)
        names = self.metric_keys()
        if self.floor_names != names:
            self.floors.clear()
            self.floor_names = names
        if n not in self.floors:
            h = len(self.holdout_features)
            if n > h:
                raise ValueError(f"no floor at N = {n}: the holdout pool has {h} real samples; "
                                 f"rebuild the reference with n_holdout >= {n} or monitor at N <= {h}")
            rng = np.random.default_rng([self.seed, n])
            rows = []
            perm = rng.permutation(h)
            for r in range(self.floor_repeats):
                if (r + 1) * n <= h:  # disjoint draws while the pool lasts
                    idx = perm[r * n:(r + 1) * n]
                else:
                    idx = rng.choice(h, n, replace=False)
                # real images stand for samples asked for the class the classifier gives them
                logits = self.holdout_logits[idx]
                values, _ = self.metrics(logits, self.holdout_features[idx],
                                         asked=logits.argmax(axis=1) if logits.shape[1] else None)
                rows.append([values.get(k, np.nan) for k in names])
            rows = np.asarray(rows, np.float64)
            self.floors[n] = (rows.mean(axis=0), rows.std(axis=0))
        mean, std = self.floors[n]
        return dict(zip(names, map(float, mean))), dict(zip(names, map(float, std)))

    # ---- cache file

    def save(self, path: str | os.PathLike) -> None:
        """Write an .npz of plain arrays (no pickles), atomically: temp file, fsync, os.replace."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ns = sorted(self.floors)
        arrays = {
            "format_version": np.int64(CACHE_FORMAT_VERSION),
            "classifier_id": np.str_(self.classifier_id), "dataset_id": np.str_(self.dataset_id),
            "mean": self.mean, "cov": self.cov, "n_real": np.int64(self.n_real),
            "class_shares": np.asarray(self.class_shares, np.float64),
            "ndb_centres": np.asarray(self.ndb_centres, np.float64),
            "ndb_shares": np.asarray(self.ndb_shares, np.float64),
            "knn_features": np.asarray(self.knn_features, np.float32),
            "knn_radii": np.asarray(self.knn_radii, np.float64),
            "dup_threshold": np.float64(self.dup_threshold),
            "holdout_features": np.asarray(self.holdout_features, np.float32),
            "holdout_logits": np.asarray(self.holdout_logits, np.float32),
            "k_precision": np.int64(self.k_precision), "k_density": np.int64(self.k_density),
            "ndb_alpha": np.float64(self.ndb_alpha), "seed": np.int64(self.seed),
            "floor_repeats": np.int64(self.floor_repeats),
            "real_sharpness": np.float64(self.real_sharpness),
            "space": np.str_(self.space), "pixel_dup_threshold": np.float64(self.pixel_dup_threshold),
            "pixel_holdout": (np.zeros((0, 0), np.uint8) if self.pixel_holdout is None
                              else np.asarray(self.pixel_holdout, np.uint8)),
            "floor_names": np.array(self.floor_names),
            "floor_ns": np.array(ns, np.int64),
            "floor_mean": np.array([self.floors[n][0] for n in ns], np.float64).reshape(len(ns), len(self.floor_names)),
            "floor_std": np.array([self.floors[n][1] for n in ns], np.float64).reshape(len(ns), len(self.floor_names)),
        }
        from explorer.io.exports import atomic_path  # temp file + rename, readable like any other file we write

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())

    @classmethod
    def load(cls, path: str | os.PathLike, *, classifier_id: str | None = None,
             dataset_id: str | None = None) -> "RealReference":
        """Read a cache written by :meth:`save` (allow_pickle=False). When ids are given they must
        match the file's; otherwise :class:`StaleReference` says which one differs."""
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"]) if "format_version" in z.files else -1
            if version != CACHE_FORMAT_VERSION:
                raise StaleReference(f"{path}: reference cache format {version}, this version reads "
                                     f"{CACHE_FORMAT_VERSION}; delete the file to rebuild it")
            got_clf, got_ds = str(z["classifier_id"]), str(z["dataset_id"])
            if classifier_id is not None and got_clf != classifier_id:
                raise StaleReference(f"{path}: built for classifier {got_clf!r}, not {classifier_id!r}; rebuild it")
            if dataset_id is not None and got_ds != dataset_id:
                raise StaleReference(f"{path}: built for dataset {got_ds!r}, not {dataset_id!r}; rebuild it")
            names = tuple(str(s) for s in z["floor_names"])
            # floors of another metric list are dropped and recomputed (RealReference.floor)
            floors = {int(n): (z["floor_mean"][i].copy(), z["floor_std"][i].copy())
                      for i, n in enumerate(z["floor_ns"])}
            extra = {"space": str(z["space"]) if "space" in z.files else "",
                     "pixel_dup_threshold": float(z["pixel_dup_threshold"]) if "pixel_dup_threshold" in z.files
                     else float("nan"),
                     "pixel_holdout": z["pixel_holdout"] if "pixel_holdout" in z.files and z["pixel_holdout"].size
                     else None}
            return cls(mean=z["mean"], cov=z["cov"], n_real=int(z["n_real"]),
                       class_shares=z["class_shares"], ndb_centres=z["ndb_centres"],
                       ndb_shares=z["ndb_shares"], knn_features=z["knn_features"],
                       knn_radii=z["knn_radii"], dup_threshold=float(z["dup_threshold"]),
                       holdout_features=z["holdout_features"], holdout_logits=z["holdout_logits"],
                       classifier_id=got_clf, dataset_id=got_ds, k_precision=int(z["k_precision"]),
                       k_density=int(z["k_density"]), ndb_alpha=float(z["ndb_alpha"]),
                       seed=int(z["seed"]), floor_repeats=int(z["floor_repeats"]), floors=floors,
                       floor_names=names,
                       real_sharpness=float(z["real_sharpness"]) if "real_sharpness" in z.files else float("nan"),
                       **extra)

    @classmethod
    def load_or_build(cls, path: str | os.PathLike, *, classifier_id: str, dataset_id: str,
                      real_outputs: Callable[[], tuple[np.ndarray, np.ndarray]], **build_kwargs) -> "RealReference":
        """Load the cache at ``path`` if it matches (classifier_id, dataset_id); otherwise call
        ``real_outputs()`` -> (logits, features), build, save, and return the new reference."""
        try:
            return cls.load(path, classifier_id=classifier_id, dataset_id=dataset_id)
        except (FileNotFoundError, StaleReference):
            pass
        logits, features = real_outputs()
        ref = cls.build(logits, features, classifier_id=classifier_id, dataset_id=dataset_id, **build_kwargs)
        ref.save(path)
        return ref


# --------------------------------------------------------------------------------------------
# Snapshot report


@dataclass
class DiversityReport:
    """Every snapshot metric with its real-vs-real floor at the same N, and the verdict.

    metrics / floors / floor_spread: {name: float} over the registered metrics (floor_spread is the std of
    the floor over its repeats). class_histogram: predicted-class shares [K]. seconds: time to
    compute the metrics (a first-use floor computation not included).
    """
    n: int
    metrics: dict[str, float]
    floors: dict[str, float]
    floor_spread: dict[str, float]
    class_histogram: list[float]
    alarms: list[Alarm] = field(default_factory=list)
    seconds: float = 0.0
    space: str = ""  # the feature space of the feature metrics, in words
    inconclusive: list[str] = field(default_factory=list)  # why the evidence is too thin for a verdict

    @property
    def verdict(self) -> str | list[str]:
        """The names of the (hard) alarms raised; else "inconclusive" when the evidence is too thin; else "ok"."""
        hard = [a.name for a in self.alarms if a.hard]
        if hard:
            return hard
        return INCONCLUSIVE if self.inconclusive else "ok"

    def spaces(self) -> dict[str, str]:
        """{metric: what it was computed in}: predicted classes, or the feature space."""
        return {k: ("predicted classes" if METRICS.get(k) is not None and METRICS[k].classes else self.space)
                for k in self.metrics}

    def to_dict(self) -> dict:
        """Plain JSON types only (json.dumps works on the result)."""
        return {"n": int(self.n), "verdict": self.verdict, "space": self.space, "spaces": self.spaces(),
                "inconclusive": list(self.inconclusive),
                "alarms": [a.to_dict() for a in self.alarms],
                "metrics": {k: float(v) for k, v in self.metrics.items()},
                "floors": {k: float(v) for k, v in self.floors.items()},
                "floor_spread": {k: float(v) for k, v in self.floor_spread.items()},
                "class_histogram": [float(v) for v in self.class_histogram],
                "seconds": float(self.seconds)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "DiversityReport":
        return cls(n=int(d["n"]), metrics=dict(d["metrics"]), floors=dict(d["floors"]),
                   floor_spread=dict(d.get("floor_spread", {})), class_histogram=list(d["class_histogram"]),
                   alarms=[Alarm(a["name"], a["detail"], a.get("severity", ALARM)) for a in d.get("alarms", [])],
                   seconds=float(d.get("seconds", 0.0)), space=str(d.get("space", "")),
                   inconclusive=list(d.get("inconclusive", [])))


def diversity_alarms(metrics: Mapping[str, float], floors: Mapping[str, float],
                     floor_spread: Mapping[str, float] | None = None, *, n_classes: int) -> list[Alarm]:
    """Alarm reasons for one snapshot, judged against the real-vs-real floor at the same N.

    Every alarm of ``diversity_metrics.ALARMS`` with a check, in registry order (modes_dropped,
    coverage_low, density_up_recall_down, ndb_high, near_duplicates).
    """
    judged = Judgement(metrics, floors, floor_spread or {}, n_classes)
    alarms = []
    for spec in ALARMS:
        needs = [m.key for m in METRICS if m.alarm == spec.name]
        if spec.check is None or any(k not in metrics for k in needs):  # a metric of another space
            continue
        detail = spec.check(judged)
        if detail:
            alarms.append(Alarm(spec.name, detail))
    return alarms


def diversity_report(logits: np.ndarray, features: np.ndarray, reference: RealReference, *,
                     asked: np.ndarray | None = None, class_names: tuple[str, ...] = (),
                     evidence: Evidence | None = None, space: str | None = None) -> DiversityReport:
    """Snapshot metrics of generated images' classifier outputs (logits [N, K], features [N, F])
    against ``reference``, each with its floor at this N, and the verdict.

    evidence: what else the verdict rests on (N, epoch, training images; default: N only). When it
    is too thin (``diversity_metrics.thin_evidence``) the alarms are graded "inconclusive" and the
    report says why, unless the metrics show collapse beyond doubt (``strong_collapse``).
    space: the feature space in words (default: the reference's own ``space``).
    The floor at a new N is computed on first use (``floor_repeats`` extra snapshots' worth of
    work) and cached on the reference; save the reference to keep it.
    """
    t0 = time.perf_counter()
    values, hist = reference.metrics(logits, features, asked, class_names)
    t1 = time.perf_counter()
    floor, spread = reference.floor(len(features))
    floor, spread = ({k: v for k, v in d.items() if k in values} for d in (floor, spread))  # measured ones only
    alarms = diversity_alarms(values, floor, spread, n_classes=reference.n_classes)
    judged = Judgement(values, floor, spread, reference.n_classes)
    reasons = thin_evidence(judged, evidence or Evidence(n=len(features)))
    inconclusive: list[str] = []
    if reasons and strong_collapse(judged, evidence) is None:
        alarms = [Alarm(a.name, a.detail, INCONCLUSIVE) for a in alarms]
        # N too small: no verdict at all; thin training alone: only the alarms are in doubt
        if alarms or len(features) < MIN_VERDICT_N:
            inconclusive = reasons
    return DiversityReport(n=len(features), metrics=values, floors=floor, floor_spread=spread,
                           class_histogram=list(hist), alarms=alarms, seconds=t1 - t0,
                           space=reference.space if space is None else space, inconclusive=inconclusive)


# --------------------------------------------------------------------------------------------
# Training-curve alarms


def _oscillates(values: Sequence[float]) -> bool:
    v = np.asarray(values, np.float64)
    if len(v) < 4 or not np.all(np.isfinite(v)):
        return False
    d = np.diff(v)
    s = np.sign(d)
    if np.any(s == 0):
        return False
    reversals = int(np.count_nonzero(s[1:] != s[:-1]))
    level = float(np.mean(np.abs(v))) or 1.0
    return reversals == len(d) - 1 and float(np.mean(np.abs(d))) >= OSC_REL_AMPLITUDE * level


def gan_curve_alarms(history: Sequence[Mapping[str, float]]) -> list[Alarm]:
    """Alarms from per-epoch GAN rows (dicts with d_x, d_g_z, d_loss, g_loss; epoch means).

    discriminator_wins: D(x) >= D_X_WIN and D(G(z)) <= D_G_Z_WIN in each of the last WIN_EPOCHS
    epochs. oscillation: g_loss or d_loss reverses direction at every epoch of the last
    OSC_WINDOW epochs with swings >= OSC_REL_AMPLITUDE of its level. Rows missing keys are skipped.
    """
    alarms = []
    rows = [r for r in history if "d_x" in r and "d_g_z" in r]
    last = rows[-WIN_EPOCHS:]
    if last and all(r["d_x"] >= D_X_WIN and r["d_g_z"] <= D_G_Z_WIN for r in last):
        alarms.append(Alarm("discriminator_wins",
                            f"D(x) = {last[-1]['d_x']:.3f}, D(G(z)) = {last[-1]['d_g_z']:.3f} over the last "
                            f"{len(last)} epoch(s): the discriminator separates real and fake outright"))
    for key in ("g_loss", "d_loss"):
        vals = [r[key] for r in history if key in r][-OSC_WINDOW:]
        if len(vals) == OSC_WINDOW and _oscillates(vals):
            alarms.append(Alarm("oscillation", f"{key} reverses direction every epoch over the last "
                                               f"{OSC_WINDOW} epochs: {', '.join(f'{v:.3g}' for v in vals)}"))
            break
    return alarms


def vae_curve_alarms(history: Sequence[Mapping]) -> list[Alarm]:
    """:func:`posterior_collapse_alarms` on per-epoch VAE rows (dicts with kl_per_dim and,
    optionally, active_units); rows without kl_per_dim are skipped."""
    rows = [r for r in history if r.get("kl_per_dim")]
    if not rows:
        return []
    active = [r["active_units"] for r in rows] if all("active_units" in r for r in rows) else None
    return posterior_collapse_alarms([r["kl_per_dim"] for r in rows], active)


def posterior_collapse_alarms(kl_per_dim: Sequence[float] | Sequence[Sequence[float]],
                              active_units: int | Sequence[int] | None = None) -> list[Alarm]:
    """VAE posterior-collapse check.

    kl_per_dim: KL (nats per image) of each latent dimension [D], or one such list per epoch
    (oldest first; the last is judged). active_units: the matching count (or per-epoch counts);
    when absent, dimensions with KL >= KL_DIM_ACTIVE are counted instead.

    Names: posterior_collapse (no dimension in use), few_active_units (< MIN_ACTIVE_FRACTION of D),
    active_units_falling (down to <= ACTIVE_DROP_RATIO of the best of the previous ACTIVE_DROP_WINDOW epochs).
    """
    kl = np.asarray(kl_per_dim, np.float64)
    hist_kl = kl if kl.ndim == 2 else kl[None, :]
    if hist_kl.size == 0:
        return []
    d = hist_kl.shape[1]
    if active_units is None:
        hist_active = [int((row >= KL_DIM_ACTIVE).sum()) for row in hist_kl]
    else:
        hist_active = [int(a) for a in np.atleast_1d(active_units)]
    latest_kl = hist_kl[-1]
    active = hist_active[-1]
    informative = int((latest_kl >= KL_DIM_ACTIVE).sum())
    alarms = []
    if active == 0 or informative == 0:
        alarms.append(Alarm("posterior_collapse", f"{active} active units, {informative} of {d} dimensions "
                                                  f"with KL >= {KL_DIM_ACTIVE} nats (total KL {latest_kl.sum():.3f})"))
    elif active < math.ceil(MIN_ACTIVE_FRACTION * d):
        alarms.append(Alarm("few_active_units", f"{active} of {d} latent dimensions active "
                                                f"(< {MIN_ACTIVE_FRACTION:.0%})"))
    if len(hist_active) > 1:
        best = max(hist_active[-(ACTIVE_DROP_WINDOW + 1):-1])
        if best >= 2 and active <= ACTIVE_DROP_RATIO * best:
            alarms.append(Alarm("active_units_falling", f"active units fell from {best} to {active}"))
    return alarms
