"""Help → About: version, Qt and onnxruntime versions, the providers onnxruntime offers and the one in use."""

from __future__ import annotations

import html
import platform
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout

from explorer import __version__
from explorer.qt import theme


def about_facts(model=None) -> dict[str, str]:
    """What the About dialog says, as label -> text (also used by tests and bug reports)."""
    import onnxruntime as ort
    import PySide6
    from PySide6.QtCore import qVersion

    from explorer.io.providers import SHORT_NAMES, plan_providers

    available = ort.get_available_providers()
    plan = plan_providers(available)
    if model is not None:
        in_use = f"{model.provider} (for {model.name})"
    else:
        in_use = SHORT_NAMES.get(plan.requested[0], plan.requested[0]) + " (no model open)"
    facts = {
        "Version": __version__,
        "onnxruntime": ort.__version__,
        "Providers available": ", ".join(SHORT_NAMES.get(p, p) for p in available),
        "Provider in use": in_use,
        "Qt / PySide6": f"{qVersion()} / {PySide6.__version__}",
        "Python": f"{platform.python_version()} ({'packaged app' if getattr(sys, 'frozen', False) else sys.executable})",
    }
    if plan.notes:
        facts["Note"] = "; ".join(plan.notes)
    return facts


class AboutDialog(QDialog):
    def __init__(self, parent=None, model=None):
        super().__init__(parent)
        self.setWindowTitle("About Latent Explorer")
        self.setObjectName("aboutDialog")
        self.facts = about_facts(model)
        icon = QLabel()
        app_icon = QIcon(parent.windowIcon()) if parent is not None else QIcon()
        if not app_icon.isNull():
            icon.setPixmap(app_icon.pixmap(96, 96))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        e = html.escape
        rows = "".join(f"<tr><td style='color:{theme.MUTED}; padding-right:14px'>{e(k)}</td><td>{e(v)}</td></tr>"
                       for k, v in self.facts.items())
        text = QLabel(
            "<h2 style='margin-bottom:2px'>Latent Explorer</h2>"
            f"<p style='color:{theme.MUTED}; margin-top:0'>See inside VAEs and GANs: grids, latent maps, "
            "interpolation paths and a mode-collapse monitor, decoded by onnxruntime.</p>"
            f"<table cellspacing='0' cellpadding='2'>{rows}</table>")
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setWordWrap(True)
        text.setMinimumWidth(420)
        from explorer.io.providers import provider_setting_hint

        text.setToolTip(provider_setting_hint())  # the variable behind "as this copy of the app is set up to"
        self.text = text
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        row = QHBoxLayout()
        row.setSpacing(18)
        row.addWidget(icon)
        row.addWidget(text, 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(22, 20, 22, 14)
        col.addLayout(row)
        col.addWidget(buttons)
