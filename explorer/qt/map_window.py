"""``latent-explorer map MODEL [--points SPEC]``: the latent map of one model in its own window.

``--points`` loads a big set onto the map (``MapModel.load_points``): a folder of images or an IDX
file encoded by a VAE's encoder, or ``gan:N`` generated samples of a GAN in the classifier's
features. The work runs on the map's job worker with progress; the window stays usable meanwhile.
With ``--screenshot`` the window is drawn offscreen once the set is loaded, then closed.
"""

from __future__ import annotations

import os
import sys

from explorer.io.runtime import LoadedModel

PROG = "latent-explorer map"


def run_map(model: LoadedModel, *, points: str | None = None, classifier: str | None = None,
            screenshot: str | None = None, size=(1440, 900), timeout: float = 3600.0) -> int:
    """Show the map of ``model`` (with ``points`` loaded); 0 on success, 2 with one line on stderr."""
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from explorer.qt.map_screenshot import wait_until_ready
    from explorer.qt.map_view import MapView
    from explorer.qt.qapp import ensure_app, grab_and_close

    app = ensure_app()
    view = MapView(model, classifier=classifier, interactive=not screenshot)
    view.setWindowTitle(f"Latent map · {model.name}")
    view.resize(*size)
    view.show()
    if points:  # replaces the model's own source (a GAN's default map job is superseded)
        if view.load_points(points) is None:
            print(f"{PROG}: error: {view.last_message}", file=sys.stderr)
            view.close()
            return 2
    if not screenshot:
        return app.exec()
    if not wait_until_ready(view, timeout):
        print(f"{PROG}: error: loading {points} took longer than {timeout:.0f} s", file=sys.stderr)
        view.close()
        return 2
    failed = not view.layers and view.last_message
    message = view.last_message
    if not grab_and_close(view, screenshot):
        print(f"{PROG}: error: cannot write screenshot {screenshot}", file=sys.stderr)
        return 2
    if failed:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    print(f"wrote {screenshot} ({message})" if message else f"wrote {screenshot}")
    return 0
