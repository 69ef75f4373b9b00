"""Entry point of the packaged app (PyInstaller runs this file): the same ``latent-explorer`` CLI."""

import sys

from explorer.cli import main

if __name__ == "__main__":
    sys.exit(main())
