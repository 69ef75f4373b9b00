"""The interpolation path being edited: waypoints, settings, decoded frames, smoothness (Qt-free).

Views subscribe to the signals; the map and the grid add or move waypoints through the setters.

For a class-conditional model each waypoint may carry class weights [K] (its cell's garment, or a
blend): the frames move the weights linearly, with the same timing as the latent, so a path from a
Tee to a Dress blends the garment type while the style moves. A model that takes one class per
image (an integer class input) cannot show blends: its frames take the class of the nearer waypoint.
Decoding goes through :class:`explorer.core.decoding.AsyncDecoder` (stale answers dropped), or
synchronously with ``decode_now()`` (tests, exports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from explorer.core.decoding import AsyncDecoder, DecodeAnswer
from explorer.core.events import Signal
from explorer.core.interpolation import EASINGS, MODES, LatentPath, PathError, ease, feature_path_length
from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io.classes import describe_weights, one_hot
from explorer.io.runtime import LoadedModel

FeatureFn = Callable[[np.ndarray], np.ndarray]  # uint8 [N, H, W, C] -> features float [N, F]
MAX_FPS = 60  # playback and export speed, frames per second
EXPORT_SCALES = (1, 2, 4, 8, 16)  # export size: whole-pixel enlargements of the model's image size
DEFAULT_EXPORT_SCALE = 8  # 28 px Fashion-MNIST frames -> 224 px GIF/MP4 frames


@dataclass(frozen=True)
class Waypoint:
    """z float32 [D] and where it came from ("cell 5", "seed 3", "image shirt.png", "map point 812");
    ``weights`` float32 [K]: its class weights for a class-conditional model (None: the path's class)."""

    z: np.ndarray
    name: str = ""
    weights: np.ndarray | None = None


@dataclass(frozen=True)
class _KeptPath:
    model: LoadedModel  # held so that id(model), the key, stays this model's while kept
    waypoints: list
    mode: str
    steps: int
    easing: str
    label: int


class PathEditor:
    def __init__(self, dispatch=None, features: FeatureFn | None = None):
        self.waypoints_changed = Signal()  # ()
        self.settings_changed = Signal()   # ()
        self.frames_changed = Signal()     # () new pixels (or none, see ``problem``)
        self.readout_changed = Signal()    # (text)
        self.model: LoadedModel | None = None
        self.waypoints: list[Waypoint] = []
        self.mode = "slerp"
        self.steps = 16
        self.easing = "linear"
        self.fps = 12  # playback speed and the frame rate of GIF/MP4 exports, frames per second
        self.export_scale = DEFAULT_EXPORT_SCALE  # exported frames are the model's size times this
        self.label = 0
        self.features = features
        self.pixels: np.ndarray | None = None  # uint8 [steps, H, W, C] of the last decode
        self.latents: np.ndarray | None = None  # float32 [steps, D] behind ``pixels``
        self.weights: np.ndarray | None = None  # float32 [steps, K] class weights behind ``pixels`` (or None)
        self.finite: np.ndarray | None = None
        self.problem = "add two or more waypoints: grid cells, map points, images or random draws"
        self.readout = ""
        self._random_seed = 1000
        # dispatch: see GridController (None: answers handled on the worker thread)
        self.decoder = AsyncDecoder((dispatch or (lambda fn: fn))(self.receive), name="path decoding")
        self._pending_latents: dict[int, np.ndarray] = {}
        self._kept: dict[int, _KeptPath] = {}  # id(model) -> its path while another model is shown

    # ---- setters: validate, change, announce ---------------------------------------------------

    def set_model(self, model: LoadedModel | None) -> None:
        """Edit ``model``'s path: the one it had when the editor last showed it, else an empty one.

        Latents of another model mean nothing here, so each model keeps its own waypoints and
        settings (mode, steps, easing, class) while the editor shows another; ``forget`` drops them.
        """
        if model is self.model:
            return
        if self.model is not None:
            self._kept[id(self.model)] = _KeptPath(self.model, list(self.waypoints), self.mode, self.steps,
                                                   self.easing, self.label)
        kept = self._kept.pop(id(model), None) if model is not None else None
        self.model = model
        self.decoder.invalidate()
        if kept is not None:
            self.waypoints = list(kept.waypoints)
            if (kept.mode, kept.steps, kept.easing, kept.label) != (self.mode, self.steps, self.easing, self.label):
                self.mode, self.steps, self.easing, self.label = kept.mode, kept.steps, kept.easing, kept.label
                self.settings_changed.emit()
        else:
            self.waypoints = []
        self.waypoints_changed.emit()
        self.refresh()

    def forget(self, model: LoadedModel) -> None:
        """Drop the path kept for ``model`` (it was closed)."""
        self._kept.pop(id(model), None)

    def _weights(self, weights) -> np.ndarray | None:
        """A waypoint's class weights checked against the model: float32 [K], or None."""
        if weights is None:
            return None
        k = self.model.signature.num_classes if self.model is not None else 0
        w = np.array(weights, np.float32).reshape(-1)
        if not k:
            return None  # a model without classes ignores them
        if w.size != k or not np.isfinite(w).all():
            raise PathError(f"class weights of a waypoint must be {k} finite numbers, found {w.size}")
        return w

    def add_waypoint(self, z: np.ndarray, name: str = "", weights: np.ndarray | None = None) -> None:
        """Append a waypoint; ``weights`` [K]: its class weights (a cell's garment or blend)."""
        z = np.array(z, np.float32).reshape(-1)
        if self.model is not None and z.size != self.model.latent_dim:
            raise PathError(f"waypoint is {z.size}-d, the model takes {self.model.latent_dim}-d latents")
        self.waypoints.append(Waypoint(z, name or f"point {len(self.waypoints) + 1}", self._weights(weights)))
        self.waypoints_changed.emit()
        self.refresh()

    def add_random(self, temperature: float = 1.0) -> None:
        if self.model is None:
            raise PathError("open a model first")
        self._random_seed += 1
        z = sample_latents(1, self.model.latent_dim, SamplingPolicy(self._random_seed, temperature))[0]
        self.add_waypoint(z, f"seed {self._random_seed}")

    def move_waypoint(self, index: int, z: np.ndarray) -> None:
        """Replace waypoint ``index`` (dragging it on the map)."""
        w = self.waypoints[index]
        self.waypoints[index] = Waypoint(np.array(z, np.float32).reshape(-1), w.name, w.weights)
        self.waypoints_changed.emit()
        self.refresh()

    def remove_waypoint(self, index: int) -> None:
        del self.waypoints[index]
        self.waypoints_changed.emit()
        self.refresh()

    def set_waypoints(self, items: list[tuple]) -> None:
        """Replace every waypoint: items (z, name) or (z, name, class weights or None)."""
        self.waypoints = [Waypoint(np.array(item[0], np.float32).reshape(-1), item[1],
                                   self._weights(item[2] if len(item) > 2 else None)) for item in items]
        self.waypoints_changed.emit()
        self.refresh()

    def clear(self) -> None:
        self.set_waypoints([])

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise PathError(f"mode must be one of {', '.join(MODES)}, found {mode!r}")
        if mode != self.mode:
            self.mode = mode
            self.settings_changed.emit()
            self.refresh()

    def set_steps(self, steps: int) -> None:
        if int(steps) != self.steps:
            self.steps = int(steps)
            self.settings_changed.emit()
            self.refresh()

    def set_easing(self, easing: str) -> None:
        if easing not in EASINGS:
            raise PathError(f"easing must be one of {', '.join(EASINGS)}, found {easing!r}")
        if easing != self.easing:
            self.easing = easing
            self.settings_changed.emit()
            self.refresh()

    def set_fps(self, fps: int) -> None:
        """Playback and export speed, 1..MAX_FPS frames per second."""
        fps = int(fps)
        if not 1 <= fps <= MAX_FPS:
            raise PathError(f"speed must be 1 to {MAX_FPS} frames per second, found {fps}")
        if fps != self.fps:
            self.fps = fps
            self.settings_changed.emit()

    def set_export_scale(self, scale: int) -> None:
        """Size of exported frames (PNG strip, GIF, MP4): the model's image size times one of EXPORT_SCALES."""
        if isinstance(scale, bool) or int(scale) != scale or int(scale) not in EXPORT_SCALES:
            raise PathError(f"export size must be one of {', '.join(f'{s}×' for s in EXPORT_SCALES)}, found {scale!r}")
        if int(scale) != self.export_scale:
            self.export_scale = int(scale)
            self.settings_changed.emit()

    def export_size(self, scale: int | None = None) -> tuple[int, int] | None:
        """(width, height) in pixels of one exported frame at ``scale`` (default: the chosen one); None without a model."""
        if self.model is None:
            return None
        _, h, w = self.model.image_shape
        k = self.export_scale if scale is None else scale
        return w * k, h * k

    def set_path(self, path: LatentPath, weights: list | None = None) -> None:
        """Load a saved path (a session's); ``weights``: each waypoint's class weights (or None)."""
        self.mode, self.steps, self.easing = path.mode, path.steps, path.easing
        names = list(path.names) + [""] * len(path.waypoints)
        weights = list(weights or []) + [None] * len(path.waypoints)
        self.settings_changed.emit()
        self.set_waypoints([(z, names[i], weights[i]) for i, z in enumerate(path.waypoints)])

    # ---- reading -------------------------------------------------------------------------------

    def path(self) -> LatentPath:
        """The path as a value object; PathError (one line) while it cannot be built."""
        if self.model is None:
            raise PathError("open a model first")
        if len(self.waypoints) < 2:
            raise PathError(f"a path needs at least 2 waypoints, found {len(self.waypoints)}; add another point")
        steps = max(self.steps, len(self.waypoints))
        z = np.stack([w.z for w in self.waypoints])
        names = tuple(w.name for w in self.waypoints)
        still = self._garment_only_segments(z)
        if not still.any():
            return LatentPath(z, mode=self.mode, steps=steps, easing=self.easing, names=names)
        # A segment that keeps the style and changes the garment gets frames as if its latent moved as
        # far as the other segments' do on average (a full change of garment type), 1 when none moves.
        probe = LatentPath(z, mode=self.mode, steps=steps, easing=self.easing, names=names,
                           extra=tuple(float(s) for s in still))
        moving = probe.latent_lengths()[~still]
        unit = float(moving.mean()) if moving.size and moving.mean() > 0 else 1.0
        w = self.waypoint_weights()
        change = 0.5 * np.abs(np.diff(w.astype(np.float64), axis=0)).sum(axis=1)  # 1 for one class to another
        return probe.with_(extra=tuple(float(unit * c) if s else 0.0 for s, c in zip(still, change)))

    def _garment_only_segments(self, z: np.ndarray) -> np.ndarray:
        """bool [K-1]: segments whose two waypoints have one latent (a style) and different class weights."""
        from explorer.core.interpolation import SAME_TOLERANCE, same_gaps

        w = self.waypoint_weights()
        if w is None:
            return np.zeros(len(z) - 1, bool)
        return (same_gaps(z) < SAME_TOLERANCE) & (np.abs(np.diff(w, axis=0)).max(axis=1) > 1e-6)

    def _labels(self, n: int):
        k = self.model.signature.num_classes if self.model is not None else None
        return np.full(n, self.label % k, np.int64) if k else None

    @property
    def moves_classes(self) -> bool:
        """Some waypoint carries class weights (and the model takes a class): the frames move them too."""
        return bool(self.model is not None and self.model.signature.num_classes
                    and any(w.weights is not None for w in self.waypoints))

    def waypoint_weights(self) -> np.ndarray | None:
        """float32 [waypoints, K]: each waypoint's class weights (the path's class where it has none), or None."""
        if not self.moves_classes:
            return None
        k = self.model.signature.num_classes
        default = one_hot(np.array([self.label % k]), k)[0]
        return np.stack([default if w.weights is None else w.weights for w in self.waypoints]).astype(np.float32)

    def frame_weights(self, path: LatentPath) -> np.ndarray | None:
        """float32 [steps, K]: class weights per frame, linear between waypoints with the latent's timing
        (frames per segment and easing of ``path``); None when no waypoint carries weights."""
        w = self.waypoint_weights()
        if w is None:
            return None
        out = [w[:1]]
        for i, n in enumerate(path.frame_segments()):
            t = ease(np.arange(1, n + 1) / n, path.easing)[:, None]
            out.append((1.0 - t) * w[i] + t * w[i + 1])
        return np.concatenate(out).astype(np.float32)

    def _classes(self, path: LatentPath, n: int):
        """What the frames decode with: class weights per frame, or labels (see ``frame_weights``)."""
        weights = self.frame_weights(path)
        if weights is None:
            return self._labels(n)
        if not self.model.can_blend:  # one class per image: the nearer waypoint's
            return weights.argmax(axis=1).astype(np.int64)
        return weights

    def classes_note(self) -> str:
        """The waypoints' garments in words ("classes Tee → 30% Coat + 70% Dress"), '' when none carries weights."""
        w = self.waypoint_weights()
        if w is None:
            return ""
        names = list(self.model.class_names) or [f"class {i}" for i in range(w.shape[1])]
        text = "classes " + " → ".join(describe_weights(row, names) for row in w)
        if not self.model.can_blend:
            text += " (this model takes one class per image: each frame has the nearer waypoint's class)"
        return text

    def refresh(self) -> int | None:
        """Rebuild the path and ask for its frames; the answer arrives through ``receive``."""
        try:
            path = self.path()
        except PathError as exc:
            self.decoder.invalidate()
            self._set_problem(str(exc))
            return None
        z = path.latents()
        note = path.describe()
        classes = self.classes_note()
        if classes:
            note += f"; {classes}"
        self.problem = ""
        weights = self.frame_weights(path)
        gen = self.decoder.request(self.model, z, self._classes(path, len(z)), np.arange(len(z)))
        self._pending_latents = {gen: (z, weights)}
        self._note = note
        return gen

    def _set_problem(self, text: str) -> None:
        self.problem = text
        self.pixels = self.latents = self.finite = self.weights = None
        self.readout = text
        self.frames_changed.emit()
        self.readout_changed.emit(text)

    def receive(self, answer: DecodeAnswer) -> bool:
        if not self.decoder.is_current(answer) or answer.model is not self.model:
            return False
        if answer.error:
            self._set_problem(answer.error)
            return False
        self.latents, self.weights = self._pending_latents.get(answer.generation, (None, None))
        self.pixels = answer.images.pixels
        self.finite = answer.images.finite
        self.readout = self._readout()
        self.frames_changed.emit()
        self.readout_changed.emit(self.readout)
        return True

    def decode_now(self) -> None:
        """Decode synchronously (tests, exports, screenshots)."""
        try:
            path = self.path()
        except PathError as exc:
            self._set_problem(str(exc))
            return
        self.decoder.invalidate()
        z = path.latents()
        classes = self.classes_note()
        self._note = path.describe() + (f"; {classes}" if classes else "")
        self.problem = ""
        images = self.model.decode(z, self._classes(path, len(z)))
        self.latents, self.pixels, self.finite = z, images.pixels, images.finite
        self.weights = self.frame_weights(path)
        self.readout = self._readout()
        self.frames_changed.emit()
        self.readout_changed.emit(self.readout)

    def lengths(self) -> dict[str, float] | None:
        """Feature-space path length for slerp and lerp over the same waypoints (None without features)."""
        if self.features is None or self.model is None or len(self.waypoints) < 2:
            return None
        out = {}
        for mode in MODES:
            try:
                path = self.path().with_(mode=mode)
            except PathError:
                return None
            z = path.latents()
            pixels = self.pixels if mode == self.mode and self.pixels is not None else \
                self.model.decode(z, self._classes(path, len(z))).pixels
            out[mode] = feature_path_length(self.features(pixels))
        return out

    def _readout(self) -> str:
        text = getattr(self, "_note", "")
        if self.finite is not None and not self.finite.all():
            text += f"; {int((~self.finite).sum())} frame(s) NaN/Inf"
        try:
            lengths = self.lengths()
        except Exception as exc:  # a classifier that does not fit: say so, keep the frames
            return text + f"; no path length ({type(exc).__name__}: {exc})"
        if lengths:
            text += "; " + smoothness_text(lengths, self.mode)
        return text

    # ---- sessions (explorer.core.session.SessionPart) -------------------------------------------

    def save_state(self) -> dict:
        """JSON-ready: ``paths`` [{model, name, waypoints, mode, steps, easing, names, class_weights}] (the
        current path, when it has two or more waypoints; ``class_weights`` one row or null per waypoint,
        only when some waypoint has them), ``fps`` and ``export_scale``."""
        try:
            paths = [{"model": self.model.name, "name": "current", **self.path().to_json()}]
        except PathError:
            paths = []
        if paths and self.moves_classes:
            paths[0]["class_weights"] = [None if w.weights is None else [float(x) for x in w.weights]
                                         for w in self.waypoints]
        return {"paths": paths, "fps": self.fps, "export_scale": self.export_scale}

    def restore_state(self, state: dict) -> list[str]:
        """Put back the first saved path made for the open model; returns one line per thing not restored."""
        notes = []
        if state.get("fps") is not None:
            try:
                self.set_fps(state["fps"])
            except (PathError, TypeError, ValueError) as exc:
                notes.append(f"path speed not restored ({exc})")
        if state.get("export_scale") is not None:
            try:
                self.set_export_scale(state["export_scale"])
            except (PathError, TypeError, ValueError) as exc:
                notes.append(f"path export size not restored ({exc})")
        for saved in state.get("paths") or []:
            try:
                path = LatentPath.from_json(saved)
            except PathError as exc:
                name = saved.get("name", "") if isinstance(saved, dict) else ""
                notes.append(f"path {name!r} not restored: {exc}")
                continue
            # latents of another model mean nothing here: only a path of the open model comes back
            if self.model is not None and saved.get("model") == self.model.name and path.dim == self.model.latent_dim:
                weights = saved.get("class_weights")
                try:
                    self.set_path(path, weights if isinstance(weights, list) else None)
                except (PathError, TypeError, ValueError) as exc:
                    notes.append(f"class weights of path {saved.get('name', '')!r} not restored ({exc})")
                    self.set_path(path)
                break
        return notes

    def close(self) -> None:
        self.decoder.close()


def smoothness_text(lengths: dict[str, float], shown: str) -> str:
    """The readout for feature path lengths {mode: length}: the smoother (lower) one is marked by the
    numbers, whichever mode is shown ("slerp 554.6, lerp 491.5 ◀ smoother (showing slerp)")."""
    best = min(lengths, key=lambda m: lengths[m])
    tied = len(lengths) > 1 and all(abs(v - lengths[best]) <= 1e-6 * max(abs(lengths[best]), 1e-12)
                                    for v in lengths.values())
    parts = [f"{m} {v:.4g}" + (" ◀ smoother" if m == best and not tied else "") for m, v in lengths.items()]
    return (f"feature path length (lower = smoother): {', '.join(parts)}" + (" (equally smooth)" if tied else "")
            + f" (showing {shown})")


def classifier_features(classifier) -> FeatureFn:
    """Feature function from an explorer.core.monitor.Classifier: uint8 frames -> penultimate features."""

    def features(pixels: np.ndarray) -> np.ndarray:
        x = classifier.adapt(np.asarray(pixels, np.float32) / 255.0)
        return classifier.classify(x)[1]

    return features
