"""latent-train under torchrun, keeping what every rank holds at each checkpoint (tests/test_ddp.py).

Run as torchrun's script instead of ``-m training.cli``: the same command line, and after every
``save_checkpoint`` (which every rank calls) each rank saves its modules' state dicts (weights and
buffers) to $PROBE_DIR/rank{R}-epoch{E}-batch{B}.pt, outside the run folder.
"""

import os
import sys

import torch

from training import train as T
from training.cli import main

_save_checkpoint = T.save_checkpoint


def save_checkpoint(t, epoch, batch, epoch_sums):
    _save_checkpoint(t, epoch, batch, epoch_sums)
    state = {name: {k: v.detach().cpu().clone() for k, v in T.unwrap(m).state_dict().items()}
             for name, m in t.family.modules.items()}
    torch.save(state, os.path.join(os.environ["PROBE_DIR"], f"rank{t.dist.rank}-epoch{epoch}-batch{batch}.pt"))


T.save_checkpoint = save_checkpoint

if __name__ == "__main__":
    sys.exit(main())
