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
