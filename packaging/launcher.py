"""Entry point of the packaged app (PyInstaller runs this file): the same ``latent-explorer`` CLI."""

import os
import sys

# Windows and macOS builds have no console: sys.stdout/sys.stderr are None there, and the CLI's
# one-line messages must not crash on them.
for _name in ("stdout", "stderr"):
    if getattr(sys, _name) is None:
        setattr(sys, _name, open(os.devnull, "w"))

# A Linux build without --gpu leaves onnxruntime's CUDA/TensorRT libraries out, but onnxruntime still
# lists those providers: decode on the CPU instead of failing over on every model opened.
if sys.platform.startswith("linux") and getattr(sys, "_MEIPASS", None):
    _capi = os.path.join(sys._MEIPASS, "onnxruntime", "capi")
    if not os.path.exists(os.path.join(_capi, "libonnxruntime_providers_cuda.so")):
        os.environ.setdefault("LATENT_EXPLORER_PROVIDER", "cpu")

from explorer.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
