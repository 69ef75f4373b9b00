"""Entry point of the packaged app (PyInstaller runs this file): the same ``latent-explorer`` CLI."""

import os
import sys

# Windows and macOS builds have no console: sys.stdout/sys.stderr are None there, and the CLI's
# one-line messages must not crash on them.
for _name in ("stdout", "stderr"):
    if getattr(sys, _name) is None:
        setattr(sys, _name, open(os.devnull, "w"))

from explorer.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
