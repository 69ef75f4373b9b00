import sys

from explorer.io import paths


def test_env_wins_and_bundles_are_listed_in_order(tmp_path, monkeypatch):
    for name in ("fashion-gan", "fashion-vae", "fashion-classifier", "fashion-cgan"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.onnx").write_bytes(b"")
    monkeypatch.setenv(paths.ENV_MODELS, str(tmp_path))
    assert paths.models_dir() == tmp_path
    assert paths.bundled_models() == [tmp_path / "fashion-vae", tmp_path / "fashion-gan",
                                      tmp_path / "fashion-cgan"]  # no classifier
    assert paths.bundled_model("classifier") == tmp_path / "fashion-classifier"


def test_falls_back_to_repo_then_pyinstaller(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ENV_MODELS, str(tmp_path / "missing"))
    repo = paths.Path(paths.__file__).resolve().parents[2] / "assets" / "models"
    frozen = tmp_path / "frozen"
    (frozen / "assets" / "models").mkdir(parents=True)
    monkeypatch.setattr(sys, "_MEIPASS", str(frozen), raising=False)
    expected = repo if repo.is_dir() else frozen / "assets" / "models"
    assert paths.models_dir() == expected
