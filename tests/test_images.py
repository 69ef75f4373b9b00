"""One image-folder reader (explorer/io/images.py) for training and the map: the labelled folder a
model was trained on reads the same on both sides, and the map can encode it with its classes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer.core import atlas_data as A
from explorer.io import images as I
from training import data as D
from test_map_data import make_encoder


def write_labelled_folder(root, classes=("boots", "shirts"), per_class=3, size=8, seed=0):
    """root/<class>/<i>.png gray noise images; one nested deeper, as users sort their folders."""
    rng = np.random.default_rng(seed)
    for c in classes:
        for i in range(per_class):
            sub = root / c / ("deep" if i == 0 else "")
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(sub / f"{i}.png")
    return root


def test_one_image_set_class_on_both_sides():
    assert D.ImageSet is I.ImageSet and A.ImageSet is I.ImageSet


def test_training_and_the_map_read_a_labelled_folder_alike(tmp_path):
    folder = write_labelled_folder(tmp_path / "clothes")
    for_map = A.load_image_folder(folder, (1, 8, 8))
    for_training = D.load_image_folder(folder, image_size=8, channels=1)
    assert for_map.class_names == for_training.class_names == ("boots", "shirts")
    assert for_map.labels.tolist() == for_training.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert for_map.images.shape == (6, 8, 8, 1) and for_training.images.shape == (6, 1, 8, 8)
    np.testing.assert_array_equal(for_map.images.transpose(0, 3, 1, 2), for_training.images)
    assert for_map.names[0] == "boots/1.png" and "boots/deep/0.png" in for_map.names
    assert for_map.image_shape == for_training.image_shape == (1, 8, 8)


def test_the_map_encodes_the_labelled_folder_with_its_classes(vae_bundle, tmp_path):
    from explorer.io.runtime import open_model

    make_encoder(vae_bundle)
    encoder = A.encoder_for(open_model(vae_bundle))
    folder = write_labelled_folder(tmp_path / "clothes")
    points = A.encode_set(encoder, A.load_image_folder(folder, (1, 8, 8)), use_cache=False)
    assert points.class_names == ("boots", "shirts") and points.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert dict(points.class_mix(np.arange(6))) == {"boots": 3, "shirts": 3}


def test_the_map_refuses_what_training_would_resize_or_convert(tmp_path):
    folder = write_labelled_folder(tmp_path / "clothes", size=8)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8) + np.array([255, 0, 0], np.uint8)).save(
        folder / "shirts" / "red.png")
    with pytest.raises(A.MapDataError, match="colour image") as err:
        A.load_image_folder(folder, (1, 8, 8))
    assert "\n" not in str(err.value)
    trained = D.load_image_folder(folder, image_size=8, channels=1)  # resized, luma
    assert len(trained) == 7 and int(trained.images[trained.labels == 1].max(initial=0)) >= 76
    (folder / "shirts" / "red.png").unlink()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "shirts" / "small.png")
    with pytest.raises(A.MapDataError, match="1 of 7 images are not 8x8 .small.png is 4x4."):
        A.load_image_folder(folder, (1, 8, 8))


def test_the_map_names_an_unreadable_file_training_skips_it(tmp_path):
    folder = write_labelled_folder(tmp_path / "clothes")
    (folder / "boots" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(A.MapDataError, match="broken.png: not a readable image"):
        A.load_image_folder(folder, (1, 8, 8))
    assert D.load_image_folder(folder, image_size=8).skipped == 1


def test_subset_keeps_names_and_flags_with_the_images(tmp_path):
    s = I.load_image_folder(write_labelled_folder(tmp_path / "clothes"), (1, 8, 8))
    s.is_train = np.array([True, False] * 3)
    part = s.subset(np.array([4, 1]))
    assert part.names == (s.names[4], s.names[1]) and part.is_train.tolist() == [True, False]
    np.testing.assert_array_equal(part.images, s.images[[4, 1]])
    first = part.to_channels_first()
    assert first.channels_first and first.images.shape == (2, 1, 8, 8) and first.image_shape == (1, 8, 8)


# ---- transparency: one background colour, the same in training and on the map -----------------------

HIDDEN = (250, 20, 200)  # what an icon keeps under its fully transparent pixels


def write_icon(path, size=8):
    """An RGBA PNG: a green opaque square in the middle, fully transparent elsewhere, with a loud colour
    hidden under the transparency (as 964 of 3,602 Debian icons have)."""
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = HIDDEN
    rgba[2:6, 2:6] = (10, 200, 30, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


@pytest.mark.parametrize("text, rgb", [("black", (0, 0, 0)), ("white", (255, 255, 255)),
                                       ("#3366CC", (0x33, 0x66, 0xcc))])
def test_hidden_colour_under_transparency_reads_as_the_background(tmp_path, text, rgb):
    icon = write_icon(tmp_path / "icons" / "a.png")
    bg = I.parse_background(text)
    assert bg == rgb
    read = I.read_image(icon, 3, background=bg)
    assert read[0, 0].tolist() == list(rgb) and read[3, 3].tolist() == [10, 200, 30]
    # training's loader, the map's folder loader and the image probe's fitting all lay it onto the same colour
    trained = D.load_image_folder(tmp_path / "icons", image_size=8, channels=3, background=text)
    mapped = A.load_image_folder(tmp_path / "icons", (3, 8, 8), background=bg)
    fitted = I.read_image_fitted(icon, (3, 8, 8), background=bg)
    assert trained.images[0, :, 0, 0].tolist() == mapped.images[0, 0, 0].tolist() == list(rgb)
    np.testing.assert_array_equal(trained.images[0].transpose(1, 2, 0), mapped.images[0])
    np.testing.assert_array_equal(fitted.image, read)
    assert f"transparent pixels onto {I.background_name(rgb)}" in fitted.note


def test_the_default_background_is_black_and_gray_images_take_its_luma(tmp_path):
    icon = write_icon(tmp_path / "a.png")
    assert I.read_image(icon, 3)[0, 0].tolist() == [0, 0, 0]
    gray = I.read_image(icon, 1, background=(255, 255, 255))
    assert gray[0, 0].tolist() == [255]


@pytest.mark.parametrize("text", ["", "blue", "#12345", "#gg0000", None, 3])
def test_a_background_that_is_not_a_colour_is_one_line(text):
    with pytest.raises(I.ImageFolderError, match="expected black, white or #rrggbb"):
        I.parse_background(text)


def test_a_palette_png_with_transparency_bytes_reads_without_a_warning(tmp_path, recwarn):
    """Pillow warns 'Palette images with Transparency expressed in bytes should be converted to RGBA
    images' when such a file is converted to RGB or L: the reader converts it to RGBA first."""
    im = Image.new("P", (4, 4))
    im.putpalette([*HIDDEN, 255, 255, 255, 0, 0, 255])
    im.putpixel((1, 1), 1)
    im.putpixel((2, 2), 2)
    im.save(tmp_path / "p.png", transparency=bytes([0, 255, 128]))  # index 0 hidden, 2 half transparent
    with Image.open(tmp_path / "p.png") as check:
        assert check.mode == "P" and isinstance(check.info["transparency"], bytes)
    for channels in (1, 3):
        arr = I.read_image(tmp_path / "p.png", channels, background=(255, 255, 255))
        assert arr[0, 0].tolist() == [255] * channels and arr[1, 1].tolist() == [255] * channels
    assert I.read_image(tmp_path / "p.png", 3)[2, 2].tolist() == [0, 0, 128]
    D.load_image_folder(tmp_path, image_size=4, channels=1)
    I.read_image_fitted(tmp_path / "p.png", (1, 4, 4))
    assert not [w for w in recwarn if "Transparency" in str(w.message)], [str(w.message) for w in recwarn]


def test_a_gray_png_with_a_transparent_level_goes_onto_the_background(tmp_path):
    Image.fromarray(np.full((4, 4), 7, np.uint8), "L").save(tmp_path / "g.png", transparency=7)
    assert I.read_image(tmp_path / "g.png", 1, background=(255, 255, 255))[0, 0].tolist() == [255]


def test_a_non_square_image_is_centred_on_the_background_colour(tmp_path):
    rgba = np.zeros((4, 8, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (200, 200, 200), 255  # opaque, wider than high
    Image.fromarray(rgba, "RGBA").save(tmp_path / "wide.png")
    fitted = I.read_image_fitted(tmp_path / "wide.png", (3, 8, 8), background=(0x33, 0x66, 0xcc))
    assert fitted.image[0, 0].tolist() == [0x33, 0x66, 0xcc] and fitted.image[4, 4].tolist() == [200, 200, 200]
    gray = I.read_image_fitted(tmp_path / "wide.png", (1, 8, 8), background=(0x33, 0x66, 0xcc))
    luma = (0x33 * 299 + 0x66 * 587 + 0xcc * 114) / 1000
    assert abs(int(gray.image[0, 0, 0]) - luma) <= 1
