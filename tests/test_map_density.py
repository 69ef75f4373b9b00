"""The numpy side of big maps: the class-coloured density image, the spatial grid, --points specs."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.map_density import BRIGHTEN, SINGLE_ALPHA, DensitySource, SpatialGrid, density_image, hex_rgb
from explorer.core.map_sources import MAX_GAN_POINTS, PointsSpecError, parse_points_spec

RED, BLUE = np.array([200, 0, 0], np.uint8), np.array([0, 0, 200], np.uint8)


def test_bins_rows_from_the_top_and_counts_set_alpha():
    xy = np.array([[0.5, 3.5], [0.5, 3.5], [0.5, 3.5], [3.5, 0.5]], np.float32)  # 3 points top-left, 1 bottom-right
    img = density_image(xy, np.stack([RED] * 4), (0, 4), (0, 4), 4, 4)
    assert img.shape == (4, 4, 4) and img.dtype == np.uint8
    assert img[0, 0, 3] == 255  # the densest bin is opaque
    assert img[3, 3, 3] == SINGLE_ALPHA  # one point: as opaque as one marker
    assert (img[..., 3] > 0).sum() == 2  # the other 14 bins are transparent
    assert img[3, 3, :3].tolist() == RED.tolist()  # a lone point keeps its class colour exactly
    assert img[0, 0, 0] > RED[0] and img[0, 0, 2] > 0  # dense bins are brighter (towards white)


def test_colour_is_the_count_weighted_mix_of_classes():
    xy = np.array([[0.5, 0.5]] * 4, np.float32)
    colors = np.stack([RED, RED, RED, BLUE])
    img = density_image(xy, colors, (0, 1), (0, 1), 1, 1, reference=16)
    mix = np.array([150.0, 0.0, 50.0])  # 3 red : 1 blue
    t = np.log(4) / np.log(16)  # 4 points, the brightest at 16: half way on the log scale
    np.testing.assert_allclose(img[0, 0, :3], mix + (255 - mix) * BRIGHTEN * t, atol=1)
    assert img[0, 0, 3] == round(SINGLE_ALPHA + (255 - SINGLE_ALPHA) * t)


def test_points_outside_the_box_are_left_out_and_edges_fall_inside():
    xy = np.array([[-0.1, 0.5], [1.1, 0.5], [0.5, 1.2], [1.0, 1.0], [0.0, 0.0]], np.float32)
    img = density_image(xy, RED, (0, 1), (0, 1), 2, 2)
    assert img[0, 1, 3] > 0 and img[1, 0, 3] > 0  # (1, 1) top right, (0, 0) bottom left
    assert (img[..., 3] > 0).sum() == 2


def test_weights_count_like_repeated_points():
    xy = np.array([[0.2, 0.2], [0.7, 0.7]], np.float32)
    weighted = density_image(xy, np.stack([RED, BLUE]), (0, 1), (0, 1), 2, 2, weights=np.array([5.0, 1.0]))
    repeated = density_image(np.repeat(xy, [5, 1], axis=0), np.stack([RED] * 5 + [BLUE]), (0, 1), (0, 1), 2, 2)
    np.testing.assert_array_equal(weighted, repeated)


def test_bad_boxes_and_sizes_say_what_was_wrong():
    with pytest.raises(ValueError, match="at least 1 x 1"):
        density_image(np.zeros((1, 2)), RED, (0, 1), (0, 1), 0, 5)
    with pytest.raises(ValueError, match="empty box"):
        density_image(np.zeros((1, 2)), RED, (1, 1), (0, 1), 4, 4)
    assert not density_image(np.zeros((0, 2)), RED, (0, 1), (0, 1), 3, 3).any()
    assert hex_rgb("#5b9bd5") == (91, 155, 213)


def test_spatial_grid_finds_exactly_the_points_in_a_box():
    rng = np.random.default_rng(1)
    xy = np.concatenate([rng.standard_normal((20000, 2)), rng.standard_normal((500, 2)) * 0.01 + 4]).astype(np.float32)
    grid = SpatialGrid(xy, cells=64)
    for x0, x1, y0, y1 in [(-0.3, 0.8, -1.0, 0.1), (3.99, 4.01, 3.99, 4.02), (-9, 9, -9, 9), (10, 11, 10, 11),
                           (0.5, -0.5, 0.5, -0.5)]:
        want = np.flatnonzero((xy[:, 0] >= min(x0, x1)) & (xy[:, 0] <= max(x0, x1)) & (xy[:, 1] >= min(y0, y1))
                              & (xy[:, 1] <= max(y0, y1)))
        np.testing.assert_array_equal(grid.indices_in(x0, x1, y0, y1), want)
        assert grid.count_at_most(x0, x1, y0, y1) >= len(want)
    assert grid.count_at_most(-9, 9, -9, 9) == len(xy)  # a box over everything: the bound is exact
    assert grid.count_at_most(10, 11, 10, 11) == 0


def test_density_source_draws_the_same_picture_as_the_plain_function():
    rng = np.random.default_rng(2)
    xy = rng.standard_normal((5000, 2)).astype(np.float32)
    colors = np.array([hex_rgb(c) for c in ("#ff0000", "#00ff00", "#0000ff")], np.uint8)[rng.integers(0, 3, 5000)]
    src = DensitySource(xy, colors)
    for box in [((-1, 1), (-0.5, 0.5)), ((-10, 10), (-10, 10))]:
        np.testing.assert_array_equal(src.image(*box, 60, 40, reference=20),
                                      density_image(xy, colors, *box, 60, 40, reference=20))
    assert src.last_max >= 1


def test_points_specs():
    assert parse_points_spec("gan:1000") == ("gan", 1000)
    assert parse_points_spec("GAN:1,000,000") == ("gan", MAX_GAN_POINTS)
    for bad, said in [("gan:", "whole number"), ("gan:-3", "whole number"), ("gan:0", "from 1 to"),
                      ("gan:1000001", "from 1 to"), ("", "found nothing"), ("/no/such/place", "no such folder")]:
        with pytest.raises(PointsSpecError, match=said):
            parse_points_spec(bad)


def test_points_specs_name_folders_and_files(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"")
    assert parse_points_spec(str(tmp_path / "imgs")) == ("folder", str(tmp_path / "imgs"))
    assert parse_points_spec(str(tmp_path / "t10k-images-idx3-ubyte"))[0] == "idx"


def test_point_image_draws_each_point_as_a_square_marker():
    from explorer.core.map_density import point_image

    xy = np.array([[2.5, 7.5], [9.5, 1.5], [20.0, 20.0]], np.float32)  # the last is far outside
    img = point_image(xy, np.stack([RED, BLUE, RED]), (0, 10), (0, 10), 10, 10, size=3, alpha=200)
    assert (img[..., 3] == 200).sum() == 9 + 6  # the second marker is cut by the right edge
    assert img[1:4, 1:4, 0].min() == 200 and img[1:4, 1:4, 3].min() == 200  # rows from the top: y 7.5 -> row 2
    assert img[7:10, 8:10, 2].min() == 200 and img[7:10, 8:10, 0].max() == 0
    assert not point_image(np.zeros((0, 2)), RED, (0, 1), (0, 1), 4, 4).any()
    with pytest.raises(ValueError, match="empty box"):
        point_image(xy, RED, (0, 0), (0, 1), 4, 4)


def test_class_indices_into_a_palette_draw_the_same_picture():
    rng = np.random.default_rng(3)
    xy = rng.standard_normal((20000, 2)).astype(np.float32)
    palette = np.array([hex_rgb(c) for c in ("#5b9bd5", "#f28e2b", "#59c45a", "#6b717b")], np.uint8)
    classes = rng.integers(0, 4, 20000)
    by_colour = density_image(xy, palette[classes], (-2, 2), (-1, 1.5), 80, 50)
    by_class = density_image(xy, classes, (-2, 2), (-1, 1.5), 80, 50, palette=palette)
    assert np.abs(by_colour.astype(int) - by_class).max() <= 1  # float rounding only
    src = DensitySource(xy, classes, palette=palette)
    np.testing.assert_array_equal(src.image((-2, 2), (-1, 1.5), 80, 50), by_class)
