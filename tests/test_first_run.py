"""First run and desktop integration, without building anything: Help menu, About, tour, single instance,
first-run window size, the Linux desktop files and the per-user install script."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
LINUX = ROOT / "packaging" / "linux"
ICONS = ROOT / "packaging" / "icons"

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _visible_cards(window):
    from PySide6.QtWidgets import QFrame

    return [w for w in window.findChildren(QFrame) if w.objectName() == "tourCard" and w.isVisible()]


def test_help_menu_has_tour_and_about(window):
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles[-1] == "&Help"
    assert window.tour_action.text() == "&Tour of the Views"
    assert window.about_action.text() == "&About Latent Explorer"


def test_about_names_version_onnxruntime_and_providers(window):
    import onnxruntime as ort

    from explorer import __version__
    from explorer.qt.help_menu import show_about

    dialog = show_about(window, modal=False)
    try:
        facts = dialog.facts
        assert facts["Version"] == __version__
        assert facts["onnxruntime"] == ort.__version__
        assert "CPU" in facts["Providers available"]
        assert facts["Provider in use"] == "CPU (for test gan)"  # the active model's provider
        text = dialog.text.text()
        assert ort.__version__ in text and "Provider in use" in text
    finally:
        dialog.deleteLater()


def test_building_a_window_never_starts_the_tour(window):
    # --screenshot and tests build windows with build_window: the tour is only started by run_app.
    assert _visible_cards(window) == []
    assert getattr(window, "_tour", None) is None


def test_tour_steps_through_the_views_once_and_is_remembered(window, qtbot):
    from explorer.qt.tour import maybe_start_tour, start_tour, tour_seen

    assert not tour_seen(window.settings)
    tour = maybe_start_tour(window)  # first run: shown
    steps = tour.steps
    assert 4 <= len(steps) <= 6, "a short tour"
    assert tour is not None and _visible_cards(window) and tour.counter.text() == f"1 of {len(steps)}"
    seen_targets = []
    for i in range(len(steps)):
        assert tour.index == i
        card, target = tour.card.geometry(), tour.target_rect()
        assert window.rect().contains(card), "the card stays inside the window"
        seen_targets.append(target)
        assert tour.back_button.isEnabled() == (i > 0)
        qtbot.mouseClick(tour.next_button, Qt.MouseButton.LeftButton)
    assert len(set((r.x(), r.y(), r.width()) for r in seen_targets)) == len(steps)  # points somewhere new each step
    QApplication.processEvents()
    assert _visible_cards(window) == []
    assert tour_seen(window.settings)
    assert maybe_start_tour(window) is None  # shown once
    again = start_tour(window)  # Help → Tour of the Views
    assert again.visible
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not again.visible


def test_skipping_the_tour_also_remembers_it(window, qtbot):
    from explorer.qt.tour import maybe_start_tour, tour_seen

    tour = maybe_start_tour(window)
    qtbot.mouseClick(tour.skip_button, Qt.MouseButton.LeftButton)
    assert tour_seen(window.settings)


def test_first_run_window_fits_the_screen_and_saved_layout_wins(window):
    from explorer.qt.app import fit_first_run

    window.settings.remove("geometry")
    fit_first_run(window)
    area = window.screen().availableGeometry()
    least = window.minimumSizeHint()  # the docks' minimum widths win over a tiny (offscreen 800x800) screen
    assert window.width() <= max(min(1400, area.width()), least.width())
    assert window.height() <= max(min(900, area.height()), least.height())
    window.resize(least.width() + 10, least.height() + 20)
    saved = window.size()
    window.save_settings()
    fit_first_run(window)  # a saved layout is left alone
    assert window.size() == saved


def test_a_second_launch_hands_its_paths_to_the_running_app(qtbot, tmp_path):
    from explorer.qt.qapp import ensure_app
    from explorer.qt.single_instance import InstanceServer

    ensure_app()
    name = f"latent-explorer-test-{os.getpid()}"
    server = InstanceServer(name=name)
    assert server.listen()
    model = tmp_path / "m.onnx"
    code = ("import sys; from PySide6.QtCore import QCoreApplication; app = QCoreApplication([]);"
            "from explorer.qt.single_instance import forward_to_running;"
            f"sys.exit(0 if forward_to_running([{str(model.name)!r}], name={name!r}) else 1)")
    env = {k: v for k, v in os.environ.items() if k != "LATENT_EXPLORER_NEW_INSTANCE"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env)
    with qtbot.waitSignal(server.received, timeout=10000) as got:
        pass
    assert proc.wait(timeout=10) == 0
    assert got.args == [[str(model)]]  # made absolute against the sender's folder
    server.close()
    server.deleteLater()


def test_nobody_listening_means_start_normally(qtbot):
    from explorer.qt.qapp import ensure_app
    from explorer.qt.single_instance import forward_to_running

    ensure_app()
    assert forward_to_running(["x.onnx"], name=f"latent-explorer-nobody-{os.getpid()}") is False


# ---- Linux desktop integration ------------------------------------------------------------------------


def test_desktop_entry_mime_type_and_icons_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(LINUX / "latent-explorer.desktop")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Terminal"] == "false"
    assert d["Exec"].split()[-1] == "%F"  # files from the file manager become arguments
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    mime = ET.parse(LINUX / "latent-explorer-mime.xml").getroot().find("m:mime-type", ns)
    assert d["MimeType"].rstrip(";") == mime.get("type") == "application/x-onnx"
    assert mime.find("m:glob", ns).get("pattern") == "*.onnx"
    assert d["Icon"] == "latent-explorer" and (ICONS / "latent-explorer.svg").is_file()
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert (ICONS / "png" / f"latent-explorer-{size}.png").is_file()
    assert d.get("StartupWMClass") == "latent-explorer"


def test_icon_pngs_have_their_sizes_and_are_not_blank():
    from PIL import Image

    for size in (16, 48, 256):
        image = Image.open(ICONS / "png" / f"latent-explorer-{size}.png")
        assert image.size == (size, size)
        alpha = image.getchannel("A")
        assert alpha.getextrema() == (0, 255)  # transparent corners, opaque body


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the install script is for Linux desktops")
def test_install_script_registers_and_uninstalls_for_the_user(tmp_path):
    # A stand-in for the built folder: what build.py puts next to the executable.
    app = tmp_path / "dist" / "latent-explorer"
    (app / "share" / "icons").mkdir(parents=True)
    (app / "latent-explorer").write_text("#!/bin/sh\necho fake app\n")
    (app / "latent-explorer").chmod(0o755)
    shutil.copy2(LINUX / "install.sh", app / "install.sh")
    for name in ("latent-explorer.desktop", "latent-explorer-mime.xml"):
        shutil.copy2(LINUX / name, app / "share" / name)
    shutil.copy2(ICONS / "latent-explorer.svg", app / "share" / "icons")
    for png in (ICONS / "png").glob("*.png"):
        shutil.copy2(png, app / "share" / "icons")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = subprocess.run(["sh", str(app / "install.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    share = home / ".local" / "share"
    installed = home / ".local" / "opt" / "latent-explorer" / "latent-explorer"
    assert installed.is_file()
    desktop = (share / "applications" / "latent-explorer.desktop").read_text()
    assert f'Exec="{installed}" %F' in desktop
    assert (share / "mime" / "packages" / "latent-explorer-mime.xml").is_file()
    assert (share / "icons" / "hicolor" / "48x48" / "apps" / "latent-explorer.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "latent-explorer.svg").is_file()
    if shutil.which("update-mime-database"):
        assert "application/x-onnx" in (share / "mime" / "globs2").read_text()
    if not shutil.which("xdg-mime"):
        assert "application/x-onnx=latent-explorer.desktop" in (home / ".config" / "mimeapps.list").read_text()
    # .onnx files get the app's icon, not an "executable" one
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    mime = ET.parse(LINUX / "latent-explorer-mime.xml").getroot().find("m:mime-type", ns)
    assert mime.find("m:icon", ns).get("name") == "application-x-onnx"
    assert mime.find("m:generic-icon", ns).get("name") != "application-x-executable"
    assert (share / "icons" / "hicolor" / "48x48" / "mimetypes" / "application-x-onnx.png").is_file()
    mimeapps = home / ".config" / "mimeapps.list"
    mimeapps.parent.mkdir(exist_ok=True)
    with mimeapps.open("a") as fh:  # what xdg-mime or a file manager may have written, with other apps kept
        fh.write("text/plain=gedit.desktop\n[Added Associations]\napplication/x-onnx=other.desktop;latent-explorer.desktop;\n")
    out = subprocess.run(["sh", str(app / "install.sh"), "--uninstall"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not installed.exists() and not (share / "applications" / "latent-explorer.desktop").exists()
    assert not (share / "icons" / "hicolor" / "48x48" / "mimetypes" / "application-x-onnx.png").exists()
    left = mimeapps.read_text()
    assert "latent-explorer.desktop" not in left, "uninstall leaves no default pointing at the removed entry"
    assert "text/plain=gedit.desktop" in left and "application/x-onnx=other.desktop;" in left


def test_macos_file_open_events_become_paths(qtbot):
    from PySide6.QtGui import QFileOpenEvent

    from explorer.qt.single_instance import FileOpenEvents

    events = FileOpenEvents()
    with qtbot.waitSignal(events.received, timeout=1000) as got:
        assert events.eventFilter(None, QFileOpenEvent("/tmp/model.onnx"))
    assert got.args == [["/tmp/model.onnx"]]
    events.deleteLater()


def test_a_separate_app_leaves_the_running_apps_socket_alone(qtbot, tmp_path):
    """LATENT_EXPLORER_NEW_INSTANCE=1 starts a second app; double-clicks must still reach the first."""
    from explorer.qt.qapp import ensure_app
    from explorer.qt.single_instance import InstanceServer

    ensure_app()
    name = f"latent-explorer-test-sep-{os.getpid()}"
    first = InstanceServer(name=name)
    assert first.listen()
    second = InstanceServer(name=name)  # what run_app does in the separate app
    assert second.listen() is False
    code = ("import sys; from PySide6.QtCore import QCoreApplication; app = QCoreApplication([]);"
            "from explorer.qt.single_instance import forward_to_running;"
            f"sys.exit(0 if forward_to_running(['m.onnx'], name={name!r}) else 1)")
    env = {k: v for k, v in os.environ.items() if k != "LATENT_EXPLORER_NEW_INSTANCE"}
    got_second = []
    second.received.connect(got_second.append)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env)
    with qtbot.waitSignal(first.received, timeout=10000) as got:
        pass
    assert proc.wait(timeout=10) == 0
    assert got.args == [[str(tmp_path / "m.onnx")]] and got_second == []
    for server in (first, second):
        server.close()
        server.deleteLater()


def _click_window_at(window, widget, point) -> None:
    """A click where a person's mouse is: on the window, at ``point`` of ``widget`` (Qt finds what is there)."""
    from PySide6.QtTest import QTest

    QTest.mouseClick(window.windowHandle(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     widget.mapTo(window, point))


def test_the_tour_takes_the_clicks_and_sits_beside_what_it_describes(window, qtbot):
    from explorer.qt.tour import start_tour

    window.resize(1400, 900)
    QApplication.processEvents()
    tour = start_tour(window)
    cell = window.canvas.cell_rect(5).center()
    _click_window_at(window, window.canvas, cell)  # on a grid cell, while the tour talks about the grid
    assert window.grid.focus is None, "the tour lets clicks through to the window under it"
    for i in range(len(tour.steps)):
        card, target = tour.card.geometry(), tour.target_rect()
        assert card.intersected(target).isEmpty(), f"step {i + 1} ({tour.steps[i].title}): the card covers it"
        assert window.rect().contains(card)
        qtbot.mouseClick(tour.next_button, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    assert not tour.visible
    _click_window_at(window, window.canvas, cell)  # the same click, the tour gone: it reaches the grid
    assert window.grid.focus == 5


def test_the_tour_closes_the_path_dock_it_opened(window, qtbot):
    from explorer.qt.tour import start_tour

    assert window.path_dock.isHidden()
    tour = start_tour(window)
    while tour.steps[tour.index].target != "path":
        qtbot.mouseClick(tour.next_button, Qt.MouseButton.LeftButton)
    assert window.path_dock.isVisible(), "shown while the tour explains it"
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not tour.visible and window.path_dock.isHidden(), "left as the user had it"


def test_designers_read_words_not_environment_variables(window, qtbot):
    """The tests force the CPU with LATENT_EXPLORER_PROVIDER=cpu, as a CPU build does for itself: the
    model panel, About and the status bar say so in words; the variable is only in tooltips."""
    from explorer.qt.help_menu import show_about

    assert os.environ.get("LATENT_EXPLORER_PROVIDER") == "cpu"
    window.open_paths([str(window.state.active.path)])  # the status line after opening a model
    dialog = show_about(window, modal=False)
    try:
        shown = {"model panel": window.model_panel.details.toPlainText(), "status bar": window.last_message,
                 "About": dialog.text.text()}
        for where, text in shown.items():
            assert "LATENT_EXPLORER" not in text and "_PROVIDER" not in text, f"{where}: {text}"
        assert "CPU only" in shown["model panel"] and "CPU only" in shown["About"]
        assert "LATENT_EXPLORER_PROVIDER=cpu" in dialog.text.toolTip()
        assert "LATENT_EXPLORER_PROVIDER=cpu" in window.provider_label.toolTip()
    finally:
        dialog.deleteLater()
