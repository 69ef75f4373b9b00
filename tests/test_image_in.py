"""The map's "Image in" takes any image a designer has: the app's own saved cells (upscaled PNGs), photos
of another size, colour for a gray model, transparent backgrounds; it says what it did in one line.

The conversion is Qt-free (``explorer.io.images.fit_image``), so the command line can use it too; the
app is driven by a real drop event on the map."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from explorer.io.images import fit_image, read_image_fitted
from explorer.io.pixels import upscale
from explorer.io.runtime import open_model
from test_map_data import make_encoder, shown_map_view


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _garment(size: int = 28, seed: int = 0) -> np.ndarray:
    """A bright blob centred on black, uint8 [size, size, 1], like a Fashion-MNIST image."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.uint8)
    q = size // 4
    img[q:size - q, q:size - q] = rng.integers(120, 255, (size - 2 * q, size - 2 * q))
    return img[..., None]


def test_a_saved_cell_comes_back_pixel_for_pixel(tmp_path):
    cell = _garment()
    saved = upscale(np.repeat(cell, 3, axis=-1), 3)  # how the app saves a cell: RGB, 3x nearest
    Image.fromarray(saved, "RGB").save(tmp_path / "cell.png")
    fitted = read_image_fitted(tmp_path / "cell.png", (1, 28, 28))
    np.testing.assert_array_equal(fitted.image, cell)
    assert fitted.note == "resized 84×84 → 28×28"  # gray stored as RGB is only unpacked, not "converted"


def test_a_colour_photo_is_resized_and_converted_and_says_so(tmp_path):
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[56:168, 56:168] = [200, 60, 30]
    Image.fromarray(rgb, "RGB").save(tmp_path / "red.png")
    fitted = read_image_fitted(tmp_path / "red.png", (1, 28, 28))
    assert fitted.image.shape == (28, 28, 1) and fitted.image.dtype == np.uint8
    assert fitted.note == "resized 224×224 → 28×28, converted RGB → gray"
    luma = round(0.299 * 200 + 0.587 * 60 + 0.114 * 30)
    assert abs(int(fitted.image[14, 14, 0]) - luma) <= 1 and fitted.image[0, 0, 0] == 0


def test_transparency_goes_onto_the_training_background_and_off_centre_shapes_are_centred(tmp_path):
    rgba = np.zeros((40, 80, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, but transparent outside the garment
    rgba[10:30, 30:50, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cut-out.png")
    fitted = read_image_fitted(tmp_path / "cut-out.png", (1, 20, 20))
    assert fitted.note == ("resized 80×40 → 20×20, transparent pixels onto black, centred on a 80×80 square")
    img = fitted.image[..., 0]
    assert img[0].max() == 0 and img[:, 0].max() == 0 and img[10, 10] == 255  # garment in the middle, on black
    assert np.array_equal(img, img[::-1]) and np.array_equal(img, img[:, ::-1])


def test_a_garment_on_white_is_inverted_for_a_model_trained_on_black():
    photo = np.full((56, 56, 1), 250, np.uint8)
    photo[14:42, 14:42] = 40  # a dark garment on a white table
    fitted = fit_image(photo, (1, 28, 28))
    assert "inverted (light background → the model's dark one)" in fitted.note
    assert fitted.image[0, 0, 0] == 5 and fitted.image[14, 14, 0] == 215
    assert fit_image(_garment(), (1, 28, 28)).note == "used as it is (28×28 gray)"
    rgb = fit_image(_garment(14), (3, 28, 28))
    assert rgb.image.shape == (28, 28, 3) and rgb.note == "resized 14×14 → 28×28, converted gray → RGB"


def test_an_unreadable_file_is_one_line(tmp_path):
    from explorer.core import atlas_data as A

    (tmp_path / "notes.png").write_text("not an image")
    make_dir = tmp_path / "vae"
    import model_factory

    model_factory.make_contract_vae(make_dir)
    make_encoder(make_dir)
    enc = A.encoder_for(open_model(make_dir))
    with pytest.raises(A.MapDataError) as err:
        A.fitted_image_for(enc, tmp_path / "notes.png")
    assert "not a readable image" in str(err.value) and "\n" not in str(err.value)


def test_dropping_a_big_colour_image_on_the_map_encodes_it_and_says_what_was_done(qtbot, vae_bundle, tmp_path):
    """A real drop event on the map view, as a file manager sends it."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    view = shown_map_view(qtbot, vae_bundle)
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[40:184, 60:164] = [30, 160, 220]
    Image.fromarray(rgb, "RGB").save(tmp_path / "shirt photo.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "shirt photo.png"))])
    at = QPointF(view.plot.geometry().center())
    with warnings.catch_warnings():  # PySide6 flags Qt 6's only QDragEnterEvent constructor as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(at.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, enter)  # a drag enters first, then it is dropped
    assert enter.isAccepted()
    drop = QDropEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, drop)
    probe = view.map_model.images_in.probe_result
    assert probe is not None, view.last_message
    assert probe.image.shape == (8, 8, 1) and view.panel.image_in.image.shape == (8, 8, 1)
    assert probe.note == "resized 224×224 → 8×8, converted RGB → gray"
    assert "resized 224×224 → 8×8, converted RGB → gray" in view.panel.image_text.text()
    assert view.last_message == "shirt photo.png: resized 224×224 → 8×8, converted RGB → gray"
    assert len(view.canvas.marker_item.data) == 1  # the ★ on the map
    view.close()
