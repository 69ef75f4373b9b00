"""training.data: the IDX reader, where Fashion-MNIST is looked for, and the image-folder loader."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from tiny_training import idx_bytes, requires_fashion, write_fashion_folder, write_idx, write_shapes_folder
from training import data as D
from training.data import DataError


# ---- IDX files -----------------------------------------------------------------------------------

@requires_fashion
def test_read_idx_real_test_split():
    folder = D.find_fashion_mnist(download=False)
    images = D.read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = D.read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert np.bincount(labels).tolist() == [1000] * 10  # the published test split is balanced
    assert 0 < images.mean() < 255 and images.max() == 255


@requires_fashion
def test_load_fashion_mnist_test_split_resized():
    s = D.load_fashion_mnist("test", download=False, image_size=32)
    assert s.images.shape == (10000, 1, 32, 32) and s.images.dtype == np.uint8
    assert s.labels.dtype == np.int64 and s.class_names[0] == "T-shirt/top" and s.name == "fashion-mnist"
    assert s.images.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8", "<i4", "<f8"])
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_read_idx_synthetic_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - 7).astype(dtype)
    path = write_idx(tmp_path / f"x-idx3{suffix}", array)
    got = D.read_idx(path)
    assert got.dtype.isnative and got.dtype.kind == np.dtype(dtype).kind
    np.testing.assert_array_equal(got, array)


def test_read_idx_one_dimensional_and_empty(tmp_path):
    np.testing.assert_array_equal(D.read_idx(write_idx(tmp_path / "a.gz", np.arange(7, dtype=np.uint8))),
                                  np.arange(7))
    assert D.read_idx(write_idx(tmp_path / "b", np.zeros((0, 28, 28), np.uint8))).shape == (0, 28, 28)


def good_idx(tmp_path, name="train-images-idx3-ubyte.gz"):
    path = write_idx(tmp_path / name, np.arange(4 * 6 * 6, dtype=np.uint8).reshape(4, 6, 6))
    return path, path.read_bytes()


def _corrupt(kind, raw_gz):
    raw = gzip.decompress(raw_gz)
    if kind == "gz cut short":
        return raw_gz[: len(raw_gz) // 2]
    if kind == "gz damaged inside":  # the deflate stream itself is broken (zlib.error, not OSError)
        damaged = bytearray(raw_gz)
        for i in range(12, len(damaged) - 10):
            damaged[i] ^= 0x5A
        return bytes(damaged)
    if kind == "gz crc wrong":
        damaged = bytearray(raw_gz)
        damaged[-6] ^= 0xFF
        return bytes(damaged)
    if kind == "not gzip at all":
        return raw
    if kind == "header says more":
        return gzip.compress(raw[:4] + struct.pack(">III", 400, 6, 6) + raw[16:])
    if kind == "header says less":
        return gzip.compress(raw[:4] + struct.pack(">III", 2, 6, 6) + raw[16:])
    if kind == "data cut short":
        return gzip.compress(raw[:-10])
    if kind == "header lies hugely":  # 2^32-1 cubed: bigger than any file, and np.prod would wrap around
        return gzip.compress(raw[:4] + struct.pack(">III", 2**32 - 1, 2**32 - 1, 2**32 - 1) + raw[16:])
    if kind == "wrong magic":
        return gzip.compress(b"\x1f\x8b" + raw[2:])
    if kind == "unknown dtype":
        return gzip.compress(raw[:2] + b"\x42" + raw[3:])
    if kind == "no dimensions":
        return gzip.compress(raw[:3] + b"\x00" + raw[4:])
    if kind == "truncated header":
        return gzip.compress(raw[:9])
    if kind == "too short":
        return gzip.compress(b"\x00\x00")
    if kind == "empty file":
        return b""
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", [
    "gz cut short", "gz damaged inside", "gz crc wrong", "not gzip at all", "header says more",
    "header says less", "data cut short", "header lies hugely", "wrong magic", "unknown dtype", "no dimensions",
    "truncated header", "too short", "empty file"])
def test_read_idx_corrupt_files_name_the_file(tmp_path, kind):
    path, raw_gz = good_idx(tmp_path)
    path.write_bytes(_corrupt(kind, raw_gz))
    with pytest.raises(DataError) as info:
        D.read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_read_idx_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        D.read_idx(tmp_path / "nothing.gz")


def test_load_fashion_mnist_rejects_mismatched_or_bad_labels(tmp_path):
    images = np.zeros((5, 28, 28), np.uint8)
    folder = write_fashion_folder(tmp_path / "a", images, np.zeros(4, np.uint8), images, np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="do not match"):
        D.load_fashion_mnist("train", folder, download=False)
    folder = write_fashion_folder(tmp_path / "b", images, np.full(5, 10, np.uint8), images, np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="labels outside 0..9"):
        D.load_fashion_mnist("train", folder, download=False)


# ---- where Fashion-MNIST is looked for -----------------------------------------------------------

def fake_fashion(folder):
    """The four file names (contents do not matter to the search)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pair in D.FILES.values():
        for name in pair:
            (folder / (name + ".gz")).write_bytes(b"")
    return folder


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Four candidate folders (argument, $FASHION_MNIST_DIR, Debian, cache), all empty; no downloads."""
    p = {k: tmp_path / k for k in ("arg", "env", "debian", "cachehome")}
    p["cache"] = p["cachehome"] / "latent-explorer" / "fashion-mnist"
    monkeypatch.setattr(D, "DEBIAN_DIR", p["debian"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(p["cachehome"]))
    monkeypatch.delenv(D.ENV_VAR, raising=False)

    def no_download(folder):
        raise AssertionError("the test must not download")

    monkeypatch.setattr(D, "download_fashion_mnist", no_download)
    return p


def test_user_cache_dir_follows_xdg(places):
    assert D.user_cache_dir() == places["cache"]


def test_find_order_argument_env_debian_cache(places, monkeypatch):
    for key in ("arg", "env", "debian", "cache"):
        fake_fashion(places[key])
    monkeypatch.setenv(D.ENV_VAR, str(places["env"]))
    assert D.find_fashion_mnist(places["arg"]) == places["arg"]
    assert D.find_fashion_mnist() == places["env"]
    monkeypatch.delenv(D.ENV_VAR)
    assert D.find_fashion_mnist() == places["debian"]
    monkeypatch.setattr(D, "DEBIAN_DIR", places["debian"] / "gone")
    assert D.find_fashion_mnist() == places["cache"]


def test_env_folder_without_files_falls_through(places, monkeypatch):
    fake_fashion(places["debian"])
    monkeypatch.setenv(D.ENV_VAR, str(places["env"]))
    assert D.find_fashion_mnist() == places["debian"]


def test_uncompressed_files_count_too(places):
    folder = fake_fashion(places["arg"])
    for path in folder.iterdir():
        path.rename(path.with_suffix(""))
    assert D.find_fashion_mnist(folder) == folder


def test_explicit_folder_never_falls_back(places, monkeypatch):
    fake_fashion(places["debian"])
    folder = fake_fashion(places["arg"])
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        D.find_fashion_mnist(folder)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value) and "train-images" in str(info.value)
    with pytest.raises(DataError, match="no such folder"):
        D.find_fashion_mnist(places["arg"] / "typo")


def test_not_found_message_lists_where_it_looked(places):
    with pytest.raises(DataError) as info:
        D.find_fashion_mnist(download=False)
    message = str(info.value)
    assert "not set" in message and D.ENV_VAR in message
    assert str(places["debian"]) in message and str(places["cache"]) in message
    assert "apt-get install dataset-fashion-mnist" in message and "--data" in message
    assert "\n" not in message


def test_not_found_message_names_env_folder_and_failed_download(places, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(places["env"]))

    def offline(folder):
        raise OSError("network is unreachable")

    monkeypatch.setattr(D, "download_fashion_mnist", offline)
    with pytest.raises(DataError) as info:
        D.find_fashion_mnist()
    message = str(info.value)
    assert f"{places['env']} (${D.ENV_VAR})" in message
    assert "download failed" in message and "network is unreachable" in message


def test_load_dataset_incomplete_fashion_folder_says_which_files(tmp_path):
    """A folder with some IDX files is a broken Fashion-MNIST folder, not an image folder without images."""
    folder = fake_fashion(tmp_path / "fm")
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        D.load_dataset(str(folder), "train")


def test_load_dataset_fashion_is_grayscale_only(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    folder = write_fashion_folder(tmp_path / "fm", images, np.zeros(3, np.uint8), images, np.zeros(3, np.uint8))
    assert D.load_dataset(str(folder), "train").images.shape == (3, 1, 28, 28)
    with pytest.raises(DataError, match="grayscale"):
        D.load_dataset(str(folder), "train", channels=3)


# ---- image folders -------------------------------------------------------------------------------

def solid(path, colour, size=(10, 6), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def test_image_folder_recursive_with_class_subfolders(tmp_path):
    solid(tmp_path / "cats" / "a.png", (255, 0, 0))
    solid(tmp_path / "cats" / "deep" / "deeper" / "b.JPG", (255, 0, 0))
    solid(tmp_path / "dogs" / "c.jpeg", (0, 0, 255), size=(40, 40))
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    s = D.load_image_folder(tmp_path, image_size=8, channels=3)
    assert s.class_names == ("cats", "dogs")
    assert s.labels.tolist() == [0, 0, 1] and s.labels.dtype == np.int64
    assert s.images.shape == (3, 3, 8, 8) and s.images.dtype == np.uint8
    assert s.skipped == 0 and s.name == f"folder:{tmp_path.name}"


def test_image_folder_rgb_channel_order_and_grayscale_conversion(tmp_path):
    solid(tmp_path / "red.png", (255, 0, 0))
    rgb = D.load_image_folder(tmp_path, image_size=4, channels=3).images[0]
    assert rgb[0].min() == 255 and rgb[1].max() == 0 and rgb[2].max() == 0  # [C, H, W], R first
    gray = D.load_image_folder(tmp_path, image_size=4, channels=1).images
    assert gray.shape == (1, 1, 4, 4)
    assert int(gray[0, 0, 0, 0]) == 76  # ITU-R 601 luma of pure red: 0.299 * 255


def test_image_folder_accepts_gray_palette_rgba_and_16_bit(tmp_path):
    solid(tmp_path / "g.png", 128, mode="L")
    solid(tmp_path / "p.png", 3, mode="P")
    solid(tmp_path / "rgba.png", (10, 20, 30, 0), mode="RGBA")
    Image.fromarray(np.full((5, 5), 1000, np.uint16)).save(tmp_path / "i16.png")
    for channels in (1, 3):
        s = D.load_image_folder(tmp_path, image_size=8, channels=channels)
        assert s.images.shape == (4, channels, 8, 8) and s.skipped == 0


def test_image_folder_resizes_to_a_square(tmp_path):
    img = np.zeros((30, 60), np.uint8)
    img[:, 30:] = 200  # right half bright
    Image.fromarray(img).save(tmp_path / "half.png")
    s = D.load_image_folder(tmp_path, image_size=12, channels=1)
    assert s.images.shape == (1, 1, 12, 12)
    assert s.images[0, 0, :, :5].max() == 0 and s.images[0, 0, :, 7:].min() == 200


def test_image_folder_skips_and_counts_unreadable_files(tmp_path):
    good = solid(tmp_path / "a" / "ok.png", (0, 255, 0), size=(64, 64))
    solid(tmp_path / "b" / "ok.png", (0, 0, 255))
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    (tmp_path / "a" / "text.jpg").write_text("hello")
    (tmp_path / "b" / "cut.png").write_bytes(good.read_bytes()[:60])
    solid(tmp_path / "b" / "big.jpg", (9, 9, 9), size=(64, 64))
    (tmp_path / "b" / "cut.jpg").write_bytes((tmp_path / "b" / "big.jpg").read_bytes()[:300])
    s = D.load_image_folder(tmp_path, image_size=8, channels=3)
    assert s.skipped == 4 and len(s) == 3
    assert s.class_names == ("a", "b") and s.labels.tolist() == [0, 1, 1]


def test_image_folder_labels_only_when_every_image_is_in_a_class_folder(tmp_path):
    solid(tmp_path / "x.png", (1, 2, 3))
    solid(tmp_path / "one" / "y.png", (1, 2, 3))
    solid(tmp_path / "two" / "z.png", (1, 2, 3))
    mixed = D.load_image_folder(tmp_path)
    assert mixed.class_names == () and mixed.labels.tolist() == [-1, -1, -1]
    single = D.load_image_folder(tmp_path / "one")
    assert single.labels.tolist() == [-1]
    only_one_class = tmp_path / "single-class"
    solid(only_one_class / "c" / "1.png", (1, 2, 3))
    solid(only_one_class / "c" / "2.png", (1, 2, 3))
    assert D.load_image_folder(only_one_class).class_names == ()
    assert D.load_image_folder(only_one_class, labelled=True).class_names == ("c",)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no images found") as info:
        D.load_image_folder(tmp_path)
    assert str(tmp_path) in str(info.value) and ".png" in str(info.value)
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="none of the 1 image files could be read"):
        D.load_image_folder(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        D.load_image_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="not a folder"):
        D.load_image_folder(tmp_path / "bad.png")
    solid(tmp_path / "ok.png", (0, 0, 0))
    with pytest.raises(DataError, match="channels must be 1"):
        D.load_image_folder(tmp_path, channels=4)


def test_load_dataset_splits_an_image_folder(tmp_path):
    folder = write_shapes_folder(tmp_path / "shapes", n_per_class=20, size=12)
    train = D.load_dataset(str(folder), "train", image_size=8, channels=3, seed=5)
    test = D.load_dataset(str(folder), "test", image_size=8, channels=3, seed=5)
    assert len(train) == 36 and len(test) == 4 and train.class_names == ("circle", "square")
    # disjoint and complete: compare the images themselves (each is random, so unique)
    keys = lambda s: {img.tobytes() for img in s.images}  # noqa: E731
    assert not keys(train) & keys(test) and len(keys(train) | keys(test)) == 40
    again = D.load_dataset(str(folder), "train", image_size=8, channels=3, seed=5)
    np.testing.assert_array_equal(again.images, train.images)
    other = D.load_dataset(str(folder), "test", image_size=8, channels=3, seed=6)
    assert keys(other) != keys(test)


def test_first_images_of_an_image_folder_cover_every_class(tmp_path):
    """--limit takes the first N training images: in a folder sorted by class they must still be mixed."""
    folder = write_shapes_folder(tmp_path / "shapes", n_per_class=30, size=8)
    train = D.load_dataset(str(folder), "train", image_size=8, channels=1)
    test = D.load_dataset(str(folder), "test", image_size=8, channels=1)
    assert set(train.labels[:12].tolist()) == {0, 1}
    assert set(test.labels.tolist()) == {0, 1}


def test_idx_bytes_helper_matches_the_published_header():
    header = idx_bytes(np.zeros((2, 28, 28), np.uint8))[:16]
    assert header == bytes.fromhex("00000803") + struct.pack(">III", 2, 28, 28)


def test_the_skipped_files_are_named_the_first_few_and_how_many_more(tmp_path):
    for name in ("a/empty.png", "a/text.jpg", "b/cut.png", "b/zero.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"not an image")
    solid(tmp_path / "a" / "ok.png", (0, 255, 0))
    solid(tmp_path / "b" / "ok.png", (0, 0, 255))
    s = D.load_image_folder(tmp_path, image_size=8, channels=3)
    assert s.skipped_names == ("a/empty.png", "a/text.jpg", "b/cut.png", "b/zero.png")
    assert s.skipped_note() == "skipped 4 unreadable image files: a/empty.png, a/text.jpg, b/cut.png and 1 more"
    assert s.subset(np.array([1])).skipped_note() == s.skipped_note()  # what training logs of its train split
    for name in ("a/text.jpg", "b/cut.png", "b/zero.png"):
        (tmp_path / name).unlink()
    assert D.load_image_folder(tmp_path, image_size=8).skipped_note() == "skipped 1 unreadable image file: a/empty.png"


# ---- the download fallback: https, official SHA-256, nothing kept on a mismatch ---------------------

class _Response:
    """What urlopen returns, as far as the download uses it (read in pieces, the final address)."""

    def __init__(self, body: bytes, url: str = "https://example.org/x"):
        self.body, self.url, self.at = body, url, 0

    def read(self, n=-1):
        end = len(self.body) if n < 0 else min(self.at + n, len(self.body), self.at + 1000)  # short reads
        chunk, self.at = self.body[self.at:end], end
        return chunk

    def geturl(self):
        return self.url

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _serve(monkeypatch, files: dict[str, bytes]) -> list[str]:
    """Answer urlopen with ``files`` by name (a name not there: a network failure); returns the URLs asked."""
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in files:
            raise OSError(f"no route to {url}")
        return _Response(files[name], url)

    monkeypatch.setattr(D.urllib.request, "urlopen", urlopen)
    return asked


def test_download_addresses_are_https_and_every_file_has_an_official_sha256():
    assert D.DOWNLOAD_URLS and all(url.startswith("https://") for url in D.DOWNLOAD_URLS)
    names = {n + ".gz" for pair in D.FILES.values() for n in pair}
    assert set(D.OFFICIAL_FILES) == names
    assert all(len(sha) == 64 and int(sha, 16) >= 0 and size > 0 for sha, size in D.OFFICIAL_FILES.values())


def test_a_download_with_the_wrong_checksum_is_refused_and_nothing_is_left(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    sha, size = D.OFFICIAL_FILES["train-labels-idx1-ubyte.gz"]
    wrong = b"\x1f\x8b" + b"\x00" * (size - 2)  # the right size, not the right bytes
    _serve(monkeypatch, {name: wrong for name in D.OFFICIAL_FILES})
    with pytest.raises(D.ChecksumError) as info:
        D.download_fashion_mnist(folder)
    message = str(info.value)
    assert "\n" not in message and "SHA-256" in message and "refused" in message and "https://" in message
    assert list(folder.iterdir()) == []  # no file, no temp file, no .part


def test_a_download_that_is_too_long_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    _serve(monkeypatch, {name: b"x" * (size + 10) for name, (_, size) in D.OFFICIAL_FILES.items()})
    with pytest.raises(D.ChecksumError, match="more than"):
        D.download_fashion_mnist(folder)
    assert list(folder.iterdir()) == []


@requires_fashion
def test_the_official_files_pass_and_a_failing_address_falls_to_the_next(tmp_path, monkeypatch):
    real = D.find_fashion_mnist(download=False)
    official = {name: (real / name).read_bytes() for name in D.OFFICIAL_FILES}
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        if url.startswith(D.DOWNLOAD_URLS[0]):
            raise OSError("first address down")
        return _Response(official[url.rsplit("/", 1)[-1]], url)

    monkeypatch.setattr(D.urllib.request, "urlopen", urlopen)
    folder = D.download_fashion_mnist(tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == sorted(D.OFFICIAL_FILES)
    assert all((folder / n).read_bytes() == official[n] for n in official)
    assert len(asked) == 2 * len(official) and all(u.startswith("https://") for u in asked)
    asked.clear()
    D.download_fashion_mnist(folder)  # all there and official: nothing is asked for again
    assert asked == []


def test_a_redirect_away_from_https_is_refused(tmp_path, monkeypatch):
    def urlopen(url, timeout=None):
        return _Response(b"x", "http://mirror.example/" + url.rsplit("/", 1)[-1])

    monkeypatch.setattr(D.urllib.request, "urlopen", urlopen)
    with pytest.raises(D.DataError, match="redirected to http://mirror.example/.*https only"):
        D.download_fashion_mnist(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
