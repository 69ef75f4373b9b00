"""Images put through the latent map's VAE: an image file, a dropped image, a Fashion-MNIST test image.

One image through the encoder and decoder takes milliseconds, so :meth:`MapImagesIn.probe_image`
runs on the caller's thread; the test-split scores it is ranked against are a background job of the
map (percentiles arrive later, announced by ``probe_changed`` again). Qt-free.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.core import atlas_data as A
from explorer.core.anomaly import AnomalyReference
from explorer.core.events import Signal
from explorer.core.image_probe import ImageProbe, probe_image
from explorer.core.map_sources import anomaly_work
from explorer.core.worker import Answer


class MapImagesIn:
    """The encoded image of a :class:`explorer.core.map_model.MapModel` and the scores it ranks against.

    Signal: ``probe_changed(ImageProbe)`` — a new image, or its percentiles arrived.
    """

    def __init__(self, owner):
        self.owner = owner
        self.anomaly: AnomalyReference | None = None
        self.probe_result: ImageProbe | None = None
        self._test_cache: A.ImageSet | None = None
        self.probe_changed = Signal()

    def reset(self) -> None:
        """Another model: its scores and encoded image are gone."""
        self.anomaly = self.probe_result = None

    def test_set(self) -> A.ImageSet:
        """The Fashion-MNIST test split (read once); MapDataError when it is not installed."""
        if self._test_cache is None:
            self._test_cache = A.fashion_set("test")
        return self._test_cache

    def probe_file(self, path: str) -> ImageProbe | None:
        """Encode one image file of any size, colour or transparency: it is made to fit the model
        (``atlas_data.fitted_image_for``) and the probe's ``note`` says how. MapDataError reasons go
        to ``message``."""
        m = self.owner
        if m.encoder is None:
            m.say(f"{m.model.name if m.model else 'no model'}: images can be encoded only with a VAE "
                  "bundle that has an encoder")
            return None
        try:
            fitted = A.fitted_image_for(m.encoder, path)
        except A.MapDataError as exc:
            m.say(str(exc))
            return None
        name = Path(path).name
        probe = self.probe_image(fitted.image, name=name, note=fitted.note)
        if probe is not None:
            m.say(f"{name}: {fitted.note}")
        return probe

    def probe_test_image(self, index: int | None = None) -> ImageProbe | None:
        """Encode Fashion-MNIST test image ``index`` (random when None)."""
        m = self.owner
        try:
            test = self.test_set()
        except A.MapDataError as exc:
            m.say(str(exc))
            return None
        if index is None:
            index = int(np.random.default_rng().integers(len(test.images)))
        return self.probe_image(test.images[index], name=f"test image {index} ({test.class_names[test.labels[index]]})")

    def probe_image(self, image: np.ndarray, *, name: str = "", note: str = "") -> ImageProbe | None:
        """Encode one uint8 [H, W, C] image: reconstruction, −ELBO, percentiles, marker on the map."""
        m = self.owner
        if m.encoder is None:
            m.say("images can be encoded only with a VAE bundle that has an encoder")
            return None
        try:
            probe = probe_image(m.model, m.encoder, image, reference=self.anomaly, name=name, note=note)
        except A.MapDataError as exc:
            m.say(str(exc))
            return None
        self.probe_result = probe
        m.decodes.probe_encoded(probe)
        self.probe_changed.emit(probe)
        if self.anomaly is None and "anomaly" not in m.jobs.running and m.model.image_shape == (1, 28, 28):
            model, encoder = m.model, m.encoder

            def done(answer: Answer) -> None:
                self.anomaly = answer.value
                if self.probe_result is not None:
                    p = self.probe_result
                    p.neg_elbo_pct, p.recon_error_pct = answer.value.rank(p.neg_elbo, p.recon_error)
                    self.probe_changed.emit(p)

            m.start_job("anomaly", anomaly_work(model, encoder, self.test_set), done)
        return probe

    def marker_xy(self) -> tuple[float, float] | None:
        """Where the encoded image's mean lands on the map (the ★), or None."""
        m = self.owner
        if m.projection is None or self.probe_result is None:
            return None
        xy = m.projection.forward(self.probe_result.mu[None])[0]
        return float(xy[0]), float(xy[1])
