"""Command-line entry points: ``latent-explorer`` and its subcommands (the top layer)."""
