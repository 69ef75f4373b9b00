"""Rasterise latent-explorer.svg into the PNG sizes desktops ask for, plus .ico (Windows) and .icns (macOS).

    python packaging/icons/render_icons.py        # writes packaging/icons/png/*.png, .ico, .icns

Qt's QSvgRenderer draws the SVG (no extra tools); Pillow writes the .ico and .icns containers.
The outputs are committed, so a build needs neither step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "latent-explorer.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {SVG} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out)):
        raise SystemExit(f"render_icons: cannot write {out}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (QImage needs it)
    png = HERE / "png"
    png.mkdir(exist_ok=True)
    for size in SIZES:
        render(size, png / f"latent-explorer-{size}.png")
    from PIL import Image

    big = Image.open(png / "latent-explorer-256.png")
    big.save(HERE / "latent-explorer.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    Image.open(png / "latent-explorer-512.png").save(HERE / "latent-explorer.icns")
    print(f"wrote {len(SIZES)} PNGs, latent-explorer.ico and latent-explorer.icns in {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
