"""Shared fixtures. Qt runs offscreen; every test runs in an empty temporary home and config folder
(a fresh account: ``HOME``, the XDG folders and QSettings' own paths point into tmp_path, and
nothing is created under them); settings may also go to a temporary .ini; Qt modules may check
for leaked windows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("LATENT_EXPLORER_PROVIDER", "cpu")  # tests never wait for GPU providers

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

import model_factory  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_home(tmp_path_factory, monkeypatch) -> Path:
    """An empty home for every test, as on a new account: ``~/.config`` and the app's folders do not exist.

    HOME and XDG_{CONFIG,DATA,CACHE}_HOME point into it (a folder of pytest's temporary base), and so
    do QSettings' user and system paths (Qt reads XDG_CONFIG_HOME once per process, so its paths are
    set again for each test). No test can read or write the real home's settings, sessions or caches.
    """
    home = tmp_path_factory.mktemp("home")  # beside tmp_path, not in it: tests that list tmp_path see only their files
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in ("LATENT_EXPLORER_SETTINGS", "LATENT_EXPLORER_SESSION_DIR", "LATENT_EXPLORER_NEW_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    try:
        from PySide6.QtCore import QSettings
    except ImportError:  # training-only environments
        return home
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(home / ".config"))
        QSettings.setPath(fmt, QSettings.Scope.SystemScope, str(home.parent / f"{home.name}-etc-xdg"))
    return home


@pytest.fixture
def gan_bundle(tmp_path) -> Path:
    folder = tmp_path / "gan"
    model_factory.make_contract_gan(folder)
    return folder


@pytest.fixture
def vae_bundle(tmp_path) -> Path:
    folder = tmp_path / "vae"
    model_factory.make_contract_vae(folder)
    return folder


@pytest.fixture
def settings_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(path))
    empty = tmp_path / "no-bundled-models"  # exists and is empty: the repo's assets are not used
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(empty))
    return path


@pytest.fixture
def window(qtbot, settings_file, gan_bundle, vae_bundle):
    """A main window with two models open (GAN active), fully decoded."""
    from explorer.qt.app import build_window, wait_for_grid
    from explorer.qt.qapp import ensure_app

    ensure_app()
    win, errors = build_window([str(gan_bundle), str(vae_bundle)], interactive=False)
    assert errors == []
    win.show()
    assert wait_for_grid(win)
    yield win
    win.close()
    win.deleteLater()


@pytest.fixture
def no_leaked_windows(qapp):
    """After a Qt test, no top-level widget that the test created may stay alive.

    Opt in per module: ``pytestmark = pytest.mark.usefixtures("no_leaked_windows")``.
    """
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    before = {id(w) for w in app.topLevelWidgets()} if app else set()
    yield
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
        from PySide6.QtCore import QCoreApplication, QEvent

        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    leaked = [w for w in app.topLevelWidgets() if id(w) not in before]
    assert not leaked, f"top-level widgets leaked: {[type(w).__name__ for w in leaked]}"
