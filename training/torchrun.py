"""``python -m training.torchrun``: torchrun for latent-train, with Ctrl-C ending in one line.

Same arguments as ``torchrun`` (it is torch.distributed.run's own main)::

  python -m training.torchrun --nproc_per_node=N -m training.cli vae|gan|classifier --out RUN_DIR ...

Plain torchrun answers Ctrl-C by forwarding it to the workers (every rank stops after the same
batch, rank 0 saves the checkpoint and prints where) and then dies with a SignalException traceback
and exit code 1. Here the launcher's own shutdown chatter is left out and it exits with 130 (Ctrl-C),
or 128 + the signal's number for another signal (with one line naming it), like a single process.
"""

from __future__ import annotations

import logging
import signal
import sys

EXIT_INTERRUPTED = 130
_CHATTER = ("death signal, shutting down workers", "closing signal")
_LOGGERS = ("torch.distributed.elastic.agent.server.api", "torch.distributed.elastic.multiprocessing.api")


class _ShutdownChatter(logging.Filter):
    """Drops the launcher's warnings about a signal it was sent and forwards (the workers say what
    they did; the exit code says the rest)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _CHATTER)


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main as torchrun_main

    quiet = _ShutdownChatter()
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    try:
        torchrun_main(sys.argv[1:] if argv is None else argv)
    except SignalException as exc:
        if exc.sigval == signal.SIGINT:
            return EXIT_INTERRUPTED  # rank 0 has said where its checkpoint is
        name = signal.Signals(exc.sigval).name
        print(f"latent-train (torchrun): stopped by {name}; the workers were stopped, --resume continues "
              "from the last checkpoint", file=sys.stderr)
        return 128 + int(exc.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
