"""The Help menu: the tour of the views and the About dialog."""

from __future__ import annotations

from PySide6.QtGui import QAction


def add_help_menu(window) -> None:
    """Add Help → Tour of the Views / About Latent Explorer to ``window``'s menu bar."""
    help_menu = window.menuBar().addMenu("&Help")
    tour = QAction("&Tour of the Views", window)
    tour.triggered.connect(lambda: _tour(window))
    about = QAction("&About Latent Explorer", window)
    about.setMenuRole(QAction.MenuRole.AboutRole)
    about.triggered.connect(lambda: show_about(window))
    help_menu.addAction(tour)
    help_menu.addSeparator()
    help_menu.addAction(about)
    window.help_menu = help_menu
    window.tour_action = tour
    window.about_action = about


def _tour(window) -> None:
    from explorer.qt.tour import start_tour

    start_tour(window)


def show_about(window, *, modal: bool = True):
    from explorer.qt.about import AboutDialog

    model = getattr(getattr(window, "state", None), "active", None)
    dialog = AboutDialog(window, model)
    if modal:
        dialog.exec()
        dialog.deleteLater()
    return dialog
