"""Open a generator (ours or someone else's) and decode latents with onnxruntime.

Numeric core: imports numpy, onnx and onnxruntime only (no Qt, no torch, nothing unpickled).

``open_model(path)`` accepts a model file or a bundle folder and opens it through the one ONNX
opener (``explorer/io/onnx_file.py``). Files with contract metadata (``explorer/io/contract.py``)
are read as documented; files without it are inspected (``explorer/io/signature.py``) and whatever
was guessed (latent layout, image layout, value range, class count) is listed in
``Signature.guesses`` so the UI can say so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from explorer.io import contract
from explorer.io.classes import LABELS_ONLY, as_labels, as_weights
from explorer.io.contract import ContractError, ModelCard
from explorer.io.model_error import ModelError, first_line
from explorer.io.onnx_file import DECODING_ROLES, open_onnx, refusal
from explorer.io.pixels import to_uint8
from explorer.io.providers import BATCH_SESSION_MIN, SHORT_NAMES, ProviderPlan, create_batch_session
from explorer.io.signature import NeedsImageShape, Signature, check_image_size, infer_signature
from explorer.io.time_limit import PROBE_SECONDS, run_options, run_with_limit, stopped, terminate_on_stop

# ModelError and NeedsImageShape are what open_model raises; callers import them from here with it.
__all__ = ["DecodedImages", "LoadedModel", "ModelError", "NeedsImageShape", "describe", "dimension_variance",
           "guess_flat_order", "open_model", "probe_value_range"]


@dataclass
class DecodedImages:
    """Images as uint8 [N, H, W, C] (C = 1 or 3), which samples were finite, and the decode time."""

    pixels: np.ndarray
    finite: np.ndarray  # bool [N]; False where the model produced NaN or Inf (those pixels are 0)
    seconds: float

    @property
    def bad_count(self) -> int:
        return int((~self.finite).sum())


@dataclass
class LoadedModel:
    """An open generator: session, signature, card (when the file has one) and notes for the user."""

    path: Path
    session: object
    signature: Signature
    card: ModelCard | None
    provider_notes: tuple[str, ...] = ()
    atlas_path: Path | None = None
    extra: dict = field(default_factory=dict)
    batch_session: object | None = None  # CPU only: more threads for batches >= BATCH_SESSION_MIN
    _batch_session_tried: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        if self.card is not None and self.card.name:
            return self.card.name
        if self.path.name in contract.BUNDLE_FILES.values():
            return self.path.parent.name
        return self.path.stem

    @property
    def latent_dim(self) -> int:
        return self.signature.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.signature.image_shape

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @property
    def provider(self) -> str:
        """Short name of the provider doing the work (what session.get_providers() reports first)."""
        p = self.providers[0]
        return SHORT_NAMES.get(p, p.replace("ExecutionProvider", ""))

    @property
    def class_names(self) -> tuple[str, ...]:
        k = self.signature.num_classes
        if not k:
            return ()
        names = tuple(self.card.class_names) if self.card is not None else ()
        return names if len(names) == k else tuple(f"class {i}" for i in range(k))

    @property
    def notes(self) -> tuple[str, ...]:
        """Everything the user should know: guesses, value-range handling, provider fallbacks."""
        return tuple(self.signature.guesses) + tuple(self.provider_notes)

    def file_missing(self) -> bool:
        return not self.path.is_file()

    @property
    def conditional(self) -> bool:
        """The model takes a class (integer label or class weights)."""
        return bool(self.signature.num_classes)

    @property
    def can_blend(self) -> bool:
        """The model takes class weights [N, K], so classes can be blended (not just picked)."""
        return self.signature.can_blend

    @property
    def blend_note(self) -> str | None:
        """Why classes cannot be blended, for a conditional model that takes one class per image."""
        return LABELS_ONLY if self.signature.class_kind == "label" else None

    def decode_raw(self, z: np.ndarray, labels: np.ndarray | None = None, *,
                   time_limit: float | None = None) -> np.ndarray:
        """Run the graph: z float32 [N, D] -> the output array (float32) as the model lays it out.

        labels: the classes of a conditional model (explorer/io/classes.py): None (class 0), int [N]
        class indices, or float [N, K] class weights (blends only where ``can_blend``; a model with an
        integer class input takes one-hot rows and refuses blends with the reason). Ignored by a model
        without a class input.

        time_limit (seconds): stop each run after that long (TimeLimitExceeded); the probes of a file
        not yet known to be good pass PROBE_SECONDS, decodes of an opened model run without one.
        """
        sig = self.signature
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != sig.latent_dim:
            raise ModelError(f"expected latents [N, {sig.latent_dim}], found {list(z.shape)}")
        n = z.shape[0]
        if sig.label_name:
            labels = as_labels(labels, n, sig.num_classes).astype(sig.label_dtype)
        elif sig.weights_name:
            labels = as_weights(labels, n, sig.num_classes).astype(sig.weights_dtype)
        chunk = sig.fixed_batch or n
        session = self.session_for(chunk)
        parts = []
        for start in range(0, n, max(chunk, 1)):
            if stopped():
                raise ModelError(f"{self.path.name}: decoding stopped (its view was closed)")
            zc = z[start:start + chunk]
            m = zc.shape[0]
            if sig.fixed_batch and m < chunk:  # pad the last chunk to the fixed size
                zc = np.concatenate([zc, np.zeros((chunk - m, zc.shape[1]), np.float32)])
            zc = zc.astype(sig.latent_dtype, copy=False)  # float16 and float64 graphs take their own type
            feed = {sig.latent_name: zc.reshape(zc.shape + (1, 1)) if sig.latent_layout == "nchw" else zc}
            if sig.label_name:
                lc = labels[start:start + chunk]
                if sig.fixed_batch and m < chunk:
                    lc = np.concatenate([lc, np.zeros(chunk - m, lc.dtype)])
                feed[sig.label_name] = lc.reshape(-1, 1) if sig.label_rank == 2 else lc
            elif sig.weights_name:
                wc = labels[start:start + chunk]
                if sig.fixed_batch and m < chunk:
                    wc = np.concatenate([wc, np.zeros((chunk - m, wc.shape[1]), wc.dtype)])
                feed[sig.weights_name] = wc
            if time_limit is not None:
                out = run_with_limit(session, [sig.output_name], feed, seconds=time_limit, source=self.path.name)[0]
            else:
                options = run_options()
                try:
                    with terminate_on_stop(options):  # a closing view stops a decode that hangs
                        out = session.run([sig.output_name], feed, options)[0]
                except Exception as exc:
                    if stopped():
                        raise ModelError(f"{self.path.name}: decoding stopped (its view was closed)") from None
                    raise ModelError(f"{self.path.name}: decoding failed ({first_line(exc)})") from None
            parts.append(np.asarray(out[:m], dtype=np.float32))
        if not parts:
            c, h, w = sig.image_shape
            return np.zeros((0, c, h, w), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def session_for(self, batch: int):
        """The session for a batch of this size. The more-threaded CPU session for large batches is
        opened on the first one, so models that are only opened (or never show a grid) don't pay
        for it; if it cannot be opened (a GPU provider, a pinned thread count, the file gone since),
        everything runs on the first session."""
        if batch < BATCH_SESSION_MIN:
            return self.session
        if not self._batch_session_tried:
            self._batch_session_tried = True  # two threads racing here at worst open it twice
            self.batch_session = create_batch_session(self.path, self.session)
        return self.batch_session if self.batch_session is not None else self.session

    def to_hwc(self, raw: np.ndarray) -> np.ndarray:
        """Model output -> float32 [N, H, W, C] in the model's value range (a view where possible)."""
        c, h, w = self.signature.image_shape
        n = raw.shape[0]
        layout = self.signature.output_layout
        if layout == "nchw":
            return raw.reshape(n, c, h, w).transpose(0, 2, 3, 1)
        if layout == "nhwc":
            return raw.reshape(n, h, w, c)
        if layout == "hw":
            return raw.reshape(n, h, w, 1)
        if c == 1 or self.signature.flat_order == "hwc":
            return raw.reshape(n, h, w, c)
        return raw.reshape(n, c, h, w).transpose(0, 2, 3, 1)

    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> DecodedImages:
        """z float32 [N, D] (labels: see decode_raw) -> uint8 images [N, H, W, C]."""
        t0 = time.perf_counter()
        raw = self.decode_raw(z, labels)
        pixels, finite = to_uint8(self.to_hwc(raw), self.signature.value_range)
        return DecodedImages(pixels, finite, time.perf_counter() - t0)


def probe_value_range(model: LoadedModel, *, samples: int = 16) -> LoadedModel:
    """Decode a few prior samples to find the pixel range of a model without metadata.

    [-1, 1] (tanh) and [0, 1] (sigmoid) are recognised; anything else is normalised to the probed
    min..max with a note, so the image is visible and its contrast stays fixed across frames.
    """
    sig = model.signature
    z = np.random.default_rng(0).standard_normal((samples, sig.latent_dim)).astype(np.float32)
    labels = np.arange(samples) % sig.num_classes if sig.num_classes else None
    raw = model.decode_raw(z, labels, time_limit=PROBE_SECONDS)
    finite = raw[np.isfinite(raw)]
    guesses = list(sig.guesses)
    if finite.size == 0:
        guesses.append("probe decode gave only NaN/Inf; value range unknown, assuming [0, 1]")
        new = replace(sig, value_range=(0.0, 1.0), value_range_source="probe", guesses=tuple(guesses))
    else:
        lo, hi = float(finite.min()), float(finite.max())
        tol = 1e-3
        if lo >= -tol and hi <= 1 + tol:
            rng, src = (0.0, 1.0), "probe"
            guesses.append(f"value range [0, 1] inferred from a probe decode (saw {lo:.2f}..{hi:.2f})")
        elif lo >= -1 - tol and hi <= 1 + tol:
            rng, src = (-1.0, 1.0), "probe"
            guesses.append(f"value range [-1, 1] inferred from a probe decode (saw {lo:.2f}..{hi:.2f})")
        elif lo >= -tol and 200 < hi <= 255 + tol:  # 8-bit scale
            rng, src = (0.0, 255.0), "probe"
            guesses.append(f"value range [0, 255] inferred from a probe decode (saw {lo:.1f}..{hi:.1f})")
        else:
            if hi - lo < 1e-6:
                hi = lo + 1.0
            rng, src = (lo, hi), "normalised"
            guesses.append(f"output is unbounded (saw {lo:.3g}..{hi:.3g}); normalised to that range")
        new = replace(sig, value_range=rng, value_range_source=src, guesses=tuple(guesses))
    if finite.size and not np.isfinite(raw).all():  # (all NaN/Inf already has its one note above)
        new = replace(new, guesses=new.guesses + ("probe decode produced NaN/Inf values",))
    model.signature = new
    return model


def open_model(path: str | os.PathLike, *, image_shape: tuple[int, int, int] | None = None,
               plan: ProviderPlan | None = None) -> LoadedModel:
    """Open a generator file or bundle folder (explorer/io/onnx_file.py). Raises ModelError with a one-line reason.

    image_shape (C, H, W) answers NeedsImageShape for flat outputs that do not factor.

    Every model is decoded once here, under PROBE_SECONDS (a graph that loops for ever is refused
    with one line), and its output checked against the signature, so that a model that opens also
    decodes. Nothing but ModelError leaves this function.
    """
    opened = open_onnx(path, DECODING_ROLES, plan=plan)
    source = opened.path.name
    try:
        if image_shape is not None:
            check_image_size(image_shape, source)
        signature = infer_signature(opened.session, opened.proto, opened.card, source, image_shape)
        if opened.metadata_note:  # first among the guesses: it is why everything else was guessed
            signature = replace(signature, guesses=(opened.metadata_note,) + signature.guesses)
        opened.proto = None  # the graph was needed for the signature only
        atlas = opened.path.parent / contract.ATLAS_FILE
        model = LoadedModel(path=opened.path, session=opened.session, signature=signature, card=opened.card,
                            provider_notes=opened.notes, atlas_path=atlas if atlas.is_file() else None)
        if opened.card is None:
            probe_value_range(model)
            if signature.output_layout == "flat" and signature.image_shape[0] == 3:
                guess_flat_order(model)
        else:
            check_first_decode(model)
    except ModelError:
        raise
    except Exception as exc:
        raise refusal(source, "a decoder or generator that onnxruntime can run", exc) from None
    return model


def check_first_decode(model: LoadedModel) -> None:
    """Decode one sample under PROBE_SECONDS and check it has the signature's image size (ModelError)."""
    sig = model.signature
    n = sig.fixed_batch or 1
    z = np.zeros((n, sig.latent_dim), np.float32)
    labels = np.zeros(n, np.int64) if sig.num_classes else None
    raw = model.decode_raw(z, labels, time_limit=PROBE_SECONDS)
    c, h, w = sig.image_shape
    if raw.size != n * c * h * w:
        raise ModelError(f"{model.path.name}: expected {c}x{h}x{w} images from a probe decode, "
                         f"found output {list(raw.shape)}")


def guess_flat_order(model: LoadedModel, *, samples: int = 8) -> None:
    """Flat RGB output: pick CHW or HWC order, whichever gives smoother images on a probe decode."""
    sig = model.signature
    c, h, w = sig.image_shape
    z = np.random.default_rng(1).standard_normal((samples, sig.latent_dim)).astype(np.float32)
    labels = np.arange(samples) % sig.num_classes if sig.num_classes else None
    raw = np.nan_to_num(model.decode_raw(z, labels, time_limit=PROBE_SECONDS).reshape(samples, -1).astype(np.float64))

    def roughness(img):  # mean absolute difference between horizontal and vertical neighbours
        return float(np.abs(np.diff(img, axis=1)).mean() + np.abs(np.diff(img, axis=2)).mean())

    chw = roughness(raw.reshape(samples, c, h, w).transpose(0, 2, 3, 1))
    hwc = roughness(raw.reshape(samples, h, w, c))
    order = "hwc" if hwc < 0.8 * chw else "chw"
    note = (f"flat RGB output read as {order.upper()} order "
            + ("(smoother than CHW on a probe decode)" if order == "hwc" else "(PyTorch flatten order)"))
    model.signature = replace(sig, flat_order=order, guesses=sig.guesses + (note,))


def describe(model: LoadedModel) -> dict:
    """JSON-ready summary: contract card (or the inferred signature), provider, notes."""
    sig = model.signature
    c, h, w = sig.image_shape
    info = {
        "path": str(model.path),
        "name": model.name,
        "source": "contract" if model.card is not None else "inferred",
        "latent_dim": sig.latent_dim,
        "image": {"channels": c, "height": h, "width": w},
        "value_range": list(sig.value_range),
        "value_range_source": sig.value_range_source,
        "signature": sig.describe_io(),
        "fixed_batch": sig.fixed_batch,
        "classes": list(model.class_names),
        "class_input": sig.class_kind,
        "can_blend": model.can_blend,
        "provider": model.provider,
        "providers": model.providers,
        "notes": list(model.notes),
    }
    if model.card is not None:
        meta = {k[len(contract.KEY_PREFIX):]: v for k, v in model.card.to_metadata().items()}
        import json

        info["contract"] = {k: json.loads(v) for k, v in meta.items()}
    return info


def dimension_variance(model: LoadedModel, z: np.ndarray | None = None, *, step: float = 0.5) -> tuple[np.ndarray, str]:
    """Per-dimension importance [D] used to order sliders, and where it came from.

    With a VAE atlas: the variance of the encoder means over the test set (what the data uses).
    Otherwise: how much the image moves when each dimension of ``z`` [D] is nudged by ``step``.
    """
    d = model.latent_dim
    if model.atlas_path is not None:
        try:
            atlas = contract.Atlas.load(model.atlas_path)
            if atlas.mu.shape[1] == d:
                return atlas.mu.var(axis=0), "atlas variance"
        except ContractError:
            pass
    z = np.zeros(d, np.float32) if z is None else np.asarray(z, np.float32)
    batch = np.repeat(z[None], d + 1, axis=0)
    batch[np.arange(1, d + 1), np.arange(d)] += step
    images = model.to_hwc(model.decode_raw(batch)).astype(np.float32)
    images = np.nan_to_num(images)
    change = ((images[1:] - images[:1]) ** 2).reshape(d, -1).mean(axis=1)
    return change, "image sensitivity"
