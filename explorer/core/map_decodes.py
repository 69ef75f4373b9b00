"""What the latent map decodes: the probed position, hovered points, the sweep mosaic, selections.

Every decode goes through :class:`explorer.core.decoding.AsyncDecoder` (the one latest-only
worker), so dragging or hovering never stalls the GUI thread and a newer request makes older
answers stale. ``dispatch`` turns a receiver into what the worker calls (``ToGui.wrap`` in the
app; ``None`` handles answers on the worker thread). Receivers check that the answer is current
and for the model shown, then announce it through Qt-free signals the views subscribe to.
"""

from __future__ import annotations

import numpy as np

from explorer.core.decoding import AsyncDecoder, DecodeAnswer
from explorer.core.events import Signal
from explorer.core.projection import INVERSE_LABELS, grid_positions
from explorer.io.pixels import tile

NEAREST_SHOWN = 8  # nearest real images beside the preview


class MapDecodes:
    """Decode requests of one :class:`explorer.core.map_model.MapModel`.

    Signals: probe_moved(x, y) · probe_latent_changed(z float32 [D] | None) · probe_decoded(answer)
    (the preview; ``probe_pos``/``probe_how`` say where and how) · gan_sample_probed(i) ·
    nearest_ready(title, images uint8 [K, H, W, C]) · hover_ready((layer, index), [images]) ·
    sweep_ready(mosaic uint8 [rows*H, cols*W, C], (x0, y0, x1, y1, rows, cols)) ·
    selection_images(pixels uint8 [K, H, W, C]).
    """

    def __init__(self, owner, dispatch=None):
        wrap = dispatch or (lambda fn: fn)
        self.owner = owner
        self.probe_decoder = AsyncDecoder(wrap(self._probe_answered), name="map probe decoding")
        self.nearest_decoder = AsyncDecoder(wrap(self._nearest_answered), name="map neighbour decoding")
        self.hover_decoder = AsyncDecoder(wrap(self._hover_answered), name="map hover decoding")
        self.sweep_decoder = AsyncDecoder(wrap(self._sweep_answered), name="map sweep decoding")
        self.selection_decoder = AsyncDecoder(wrap(self._selection_answered), name="map selection decoding")
        self.probe_pos: tuple[float, float] | None = None
        self.probe_how = ""
        self.probe_z: np.ndarray | None = None
        self.hover_index: tuple[int, int] | None = None
        self.sweep_box: tuple[float, float, float, float, int, int] | None = None  # of the mosaic shown
        self._requested_box: tuple[float, float, float, float, int, int] | None = None
        self.sweep_seconds = 0.0
        self._nearest_title = ""
        for name in ("probe_moved", "probe_latent_changed", "probe_decoded", "gan_sample_probed", "nearest_ready",
                     "hover_ready", "sweep_ready", "selection_images"):
            setattr(self, name, Signal())

    @property
    def decoders(self) -> tuple[AsyncDecoder, ...]:
        return (self.probe_decoder, self.nearest_decoder, self.hover_decoder, self.sweep_decoder,
                self.selection_decoder)

    def invalidate(self) -> None:
        """The model or its points changed: every answer on its way is stale."""
        for dec in self.decoders:
            dec.invalidate()
        self.hover_index = None
        self.set_probe_latent(None)

    def close(self) -> None:
        for dec in self.decoders:
            dec.close()

    # ---- the probe -------------------------------------------------------------------------------

    def set_probe_latent(self, z: np.ndarray | None) -> None:
        """The latent "Send to grid" and "Add to path" send: float32 [D], or None (buttons off)."""
        self.probe_z = None if z is None else np.array(z, np.float32).reshape(-1)
        self.probe_latent_changed.emit(self.probe_z)

    def probe_at(self, x: float, y: float, *, clicked: bool = False) -> int | None:
        """Decode the map position (x, y) into the preview (asynchronously; stale answers dropped).

        GAN map (no inverse): shows the nearest generated sample; a click activates its latent.
        Returns the decode generation, or None when nothing was requested."""
        m = self.owner
        if m.projection is None or m.model is None or not m.layers:
            return None
        self.probe_pos = (float(x), float(y))
        self.probe_moved.emit(float(x), float(y))
        if m.is_gan:
            layer = m.primary
            i = layer.nearest(x, y, radius=np.inf)
            if i is None:
                return None
            pts = layer.points
            self.set_probe_latent(pts.latents[i])
            self.gan_sample_probed.emit(i)
            if clicked:
                m.latent_activated.emit(pts.latents[i].copy())
                m.say(f"sample {i} ({pts.class_names[pts.labels[i]]}) loaded into the grid")
            if pts.images is None:  # a big gan:N set keeps latents only: decode the sample again
                self.probe_how = "the generator"
                return self.probe_decoder.request(m.model, pts.latents[i:i + 1], _gan_labels(m.model, [i]),
                                                  np.array([0]))
            return None
        inv = m.projection.inverse(np.array([[x, y]], np.float32))
        self.probe_how = INVERSE_LABELS[inv.how[0]]
        self.set_probe_latent(inv.z[0])
        return self.probe_decoder.request(m.model, inv.z, None, np.array([0]))

    def _probe_answered(self, answer: DecodeAnswer) -> None:
        m = self.owner
        if not self.probe_decoder.is_current(answer) or answer.model is not m.model:
            return
        if answer.error:
            m.say(answer.error)
            return
        self.probe_decoded.emit(answer)
        if self.probe_z is not None and not m.is_gan:
            self.show_nearest(self.probe_z, "Nearest real images to this latent")

    def probe_encoded(self, probe) -> None:
        """An image went through the encoder (``ImageProbe``): its mean is the probe latent now."""
        self.probe_decoder.invalidate()  # an earlier probe's answer must not overwrite this preview
        self.set_probe_latent(probe.mu)
        self.show_nearest(probe.mu, "Nearest real images to the encoded image")

    def show_nearest(self, z: np.ndarray, title: str) -> None:
        """The points nearest to z [D]: their original images when known, else their decodings."""
        m = self.owner
        if m.points is None:
            return
        idx, dist = m.points.nearest(z, NEAREST_SHOWN)
        images = m.points.images if m.points.images is not None else m.real_images
        if images is not None and len(images) == len(m.points):
            self.nearest_decoder.invalidate()
            self.nearest_ready.emit(f"{title} (closest {dist[0]:.2f})", images[idx])
        else:  # no originals known: decode the neighbours' latents (said so)
            self._nearest_title = f"{title}, decoded (originals not available)"
            self.nearest_decoder.request(m.model, m.points.vectors[idx], None, idx)

    def _nearest_answered(self, answer: DecodeAnswer) -> None:
        if not self.nearest_decoder.is_current(answer) or answer.model is not self.owner.model or answer.error:
            return
        self.nearest_ready.emit(self._nearest_title, answer.images.pixels)

    # ---- hover -----------------------------------------------------------------------------------

    def hover(self, hit: tuple[int, int] | None) -> None:
        """Hover point ``hit`` = (layer, index) (None: nothing hovered): its images come by hover_ready.

        GAN maps show the stored images; latent points are decoded on the hover worker."""
        self.hover_index = hit
        if hit is None:
            self.hover_decoder.invalidate()
            return
        m = self.owner
        pts = m.layers[hit[0]].points
        if pts.kind == "gan-samples" and pts.images is None:  # latents only (gan:N): decoded on hover
            self.hover_decoder.request(m.model, pts.latents[hit[1]:hit[1] + 1], _gan_labels(m.model, [hit[1]]),
                                       np.array(hit))
            return
        if pts.kind in ("gan-real", "gan-samples"):
            self.hover_decoder.invalidate()
            self.hover_ready.emit(hit, [pts.images[hit[1]]])
            return
        self.hover_decoder.request(m.model, pts.vectors[hit[1]:hit[1] + 1], None, np.array(hit))

    def _hover_answered(self, answer: DecodeAnswer) -> None:
        m = self.owner
        if not self.hover_decoder.is_current(answer) or answer.model is not m.model or self.hover_index is None:
            return
        if answer.error:
            m.say(answer.error)
            return
        hit = (int(answer.indices[0]), int(answer.indices[1]))
        if hit != self.hover_index or hit[0] >= len(m.layers):
            return
        pts = m.layers[hit[0]].points
        images = [answer.images.pixels[0]]
        if pts.images is not None:  # a user's set: original | reconstruction
            images = [pts.images[hit[1]], answer.images.pixels[0]]
        self.hover_ready.emit(hit, images)

    # ---- sweep -----------------------------------------------------------------------------------

    def request_sweep(self, x0: float, y0: float, x1: float, y1: float, rows: int, cols: int) -> int | None:
        """Decode a rows x cols mosaic over the box (map units) through the exact inverse."""
        m = self.owner
        if not m.sweep_on or m.projection is None or m.model is None:
            return None
        z = m.projection.inverse(grid_positions(x0, y0, x1, y1, rows, cols)).z
        # only the newest request's answer is ever current, so its box is the one asked for last
        self._requested_box = (float(x0), float(y0), float(x1), float(y1), int(rows), int(cols))
        return self.sweep_decoder.request(m.model, z, None, np.arange(rows * cols))

    def _sweep_answered(self, answer: DecodeAnswer) -> None:
        if not self.sweep_decoder.is_current(answer) or answer.model is not self.owner.model or answer.error:
            return
        self.sweep_box = self._requested_box
        rows, cols = self.sweep_box[4:]
        self.sweep_seconds = answer.images.seconds
        self.sweep_ready.emit(tile(answer.images.pixels, rows, cols, pad=0), self.sweep_box)

    # ---- selection -------------------------------------------------------------------------------

    def request_selection(self) -> None:
        """Decodings of (a sample of) the selection; GAN samples show their stored images."""
        m = self.owner
        layer = m.primary
        shown = m.selection_sample()
        pts = layer.points
        if pts.kind == "gan-samples" and pts.images is None:
            self.selection_decoder.request(m.model, pts.latents[shown], _gan_labels(m.model, shown), shown)
        elif pts.kind == "gan-samples":
            self.selection_decoder.invalidate()
            self.selection_images.emit(pts.images[shown])
        else:
            self.selection_decoder.request(m.model, pts.vectors[shown], None, shown)

    def _selection_answered(self, answer: DecodeAnswer) -> None:
        m = self.owner
        if not self.selection_decoder.is_current(answer) or answer.model is not m.model or answer.error:
            if answer.error:
                m.say(answer.error)
            return
        self.selection_images.emit(answer.images.pixels)


def _gan_labels(model, indices) -> np.ndarray | None:
    """The class labels a conditional generator drew sample ``indices`` with (index mod classes), else None."""
    classes = model.signature.num_classes
    return None if not classes else np.asarray(indices, np.int64) % classes
