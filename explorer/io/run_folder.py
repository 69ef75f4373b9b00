"""The run folder: the second contract between training and the app (the ONNX file is the first).

``latent-train`` writes a RUN_DIR through this module and the live monitor reads it through this
module, so the names below are the only place either side spells them::

  config.json                  the TrainConfig as JSON ("family", "epochs", ...)
  metrics.jsonl                one JSON object per finished epoch, appended and flushed
  checkpoints/last.pt          everything needed to resume
  snapshots/epoch-NNNN/        the ONNX bundle of that epoch (what the monitor watches)
  model/                       the final bundle, written when training finishes
  tensorboard/                 TensorBoard event files (only with latent-train --tensorboard): every
                               figure of metrics.jsonl per epoch and the epoch's sample grid

Every file appears atomically (temp file or temp folder + rename); names that start with a dot are
work in progress and never read. Those temporary names (below: ``bundle_temp_name``,
``bundle_old_name``, ``file_temp_suffix``) carry the writer's PID, so that a later start can remove
the ones a killed process left (``stale_temp_paths``). Documented for people in docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from explorer.io.contract import BUNDLE_FILES

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FILE = "last.pt"
SNAPSHOTS_DIR = "snapshots"
MODEL_DIR = "model"
TENSORBOARD_DIR = "tensorboard"
_SNAPSHOT_NAME = re.compile(r"^epoch-(\d+)$")

# Temporary names of the run's writers (a dot first, the writing process's PID in the name):
#   .NAME.tmp-PID/             a bundle folder being written (training/export.py export_bundle)
#   .NAME.old-PID/             the older bundle folder it replaces, until deleted (training/files.py replace_dir)
#   .NAME.RANDOM.tmp-PID.EXT   a file being written atomically (training/files.py, through explorer/io/files.py)
_TEMP_DIR_NAME = re.compile(r"^\.(?P<name>[^/]+)\.(?P<kind>tmp|old)-(?P<pid>\d+)$")
_TEMP_FILE_NAME = re.compile(r"^\.(?P<name>[^/]+)\.[A-Za-z0-9_]+\.tmp-(?P<pid>\d+)(?:\.[^./]*)?$")

# The training families, named by the role of the ONNX file their bundles hold.
FAMILY_OF_ROLE = {"generator": "gan", "decoder": "vae", "classifier": "classifier"}


def snapshot_name(epoch: int) -> str:
    """``epoch-0007``: the folder name of epoch 7's snapshot."""
    return f"epoch-{int(epoch):04d}"


def snapshot_epoch(name: str) -> int | None:
    """The epoch of a snapshot folder name, or None when the name is not one."""
    m = _SNAPSHOT_NAME.match(name)
    return int(m.group(1)) if m else None


def bundle_temp_name(name: str, pid: int) -> str:
    """``.model.tmp-PID``: the folder a bundle ``name`` is written in before its rename."""
    return f".{name}.tmp-{int(pid)}"


def bundle_old_name(name: str, pid: int) -> str:
    """``.model.old-PID``: where an older bundle ``name`` waits while the new one is renamed in."""
    return f".{name}.old-{int(pid)}"


def file_temp_suffix(pid: int, ext: str = "") -> str:
    """What follows ``.tmp`` in an atomic writer's temp file name: ``-PID`` and the file's extension
    (``.last.pt.RANDOM.tmp-PID.pt``)."""
    return f"-{int(pid)}{ext}"


def temp_name_info(name: str, *, is_dir: bool) -> tuple[str, str, int] | None:
    """(target name, "tmp" or "old", PID) of one of our temporary names, or None when it is not one."""
    m = (_TEMP_DIR_NAME if is_dir else _TEMP_FILE_NAME).match(name)
    if m is None:
        return None
    return m.group("name"), (m.group("kind") if is_dir else "tmp"), int(m.group("pid"))


@dataclass(frozen=True)
class RunFolder:
    """Where each part of one run lives (paths only; nothing is read or created here)."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINT_DIR

    @property
    def checkpoint(self) -> Path:
        return self.checkpoints / CHECKPOINT_FILE

    @property
    def snapshots(self) -> Path:
        return self.root / SNAPSHOTS_DIR

    def snapshot(self, epoch: int) -> Path:
        return self.snapshots / snapshot_name(epoch)

    @property
    def model(self) -> Path:
        return self.root / MODEL_DIR

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_DIR

    def looks_like_run(self) -> bool:
        """True when any part of a run is there (a run that just started has only some)."""
        return any(p.exists() for p in (self.snapshots, self.metrics, self.config))

    @property
    def finished(self) -> bool:
        return self.model.is_dir()

    @property
    def temp_folders(self) -> tuple[Path, ...]:
        """The folders where the run's writers leave temporary names (the run, checkpoints, snapshots)."""
        return (self.root, self.checkpoints, self.snapshots)


def stale_temp_paths(run_dir: str | os.PathLike, alive) -> list[tuple[Path, tuple[str, str, int]]]:
    """Our temporary files and folders in a run whose writer is gone: (path, ``temp_name_info``) for each
    name in ``RunFolder.temp_folders`` that matches one above and whose PID ``alive(pid)`` says is not
    running. Nothing is removed here; symlinks are never ours."""
    out = []
    for folder in RunFolder(run_dir).temp_folders:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if not entry.name.startswith(".") or entry.is_symlink():
                continue
            info = temp_name_info(entry.name, is_dir=entry.is_dir(follow_symlinks=False))
            if info is None or alive(info[2]):
                continue
            out.append((Path(entry.path), info))
    return sorted(out)


@dataclass(frozen=True)
class SnapshotInfo:
    epoch: int
    path: Path


def list_snapshots(run_dir: str | os.PathLike) -> list[SnapshotInfo]:
    """``snapshots/epoch-NNNN`` folders of a run, oldest first (temporary dot-folders ignored)."""
    try:
        entries = list(os.scandir(RunFolder(run_dir).snapshots))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for entry in entries:
        epoch = snapshot_epoch(entry.name)
        if epoch is not None and entry.is_dir():
            out.append(SnapshotInfo(epoch, Path(entry.path)))
    return sorted(out, key=lambda s: s.epoch)


def bundle_family(folder: str | os.PathLike) -> str | None:
    """"gan", "vae" or "classifier" from the ONNX files a bundle folder holds (None: none of ours)."""
    for role, family in FAMILY_OF_ROLE.items():
        if (Path(folder) / BUNDLE_FILES[role]).is_file():
            return family
    return None


def run_of_bundle(folder: str | os.PathLike) -> Path | None:
    """The run folder a bundle folder belongs to (``RUN/model`` or ``RUN/snapshots/epoch-NNNN``) when
    that run has its config.json; None for a bundle anywhere else."""
    folder = Path(folder)
    if folder.name == MODEL_DIR:
        run = folder.parent
    elif snapshot_epoch(folder.name) is not None and folder.parent.name == SNAPSHOTS_DIR:
        run = folder.parent.parent
    else:
        return None
    return run if RunFolder(run).config.is_file() else None


def read_config(run_dir: str | os.PathLike) -> dict | None:
    """``config.json`` of a run as a dict, or None when missing or unreadable."""
    try:
        data = json.loads(RunFolder(run_dir).config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---- metrics.jsonl: one writer, one reader ----------------------------------------------------------

def append_jsonl(path: str | os.PathLike, obj) -> None:
    """Append one JSON line and flush it to disk (a reader sees whole lines, or a torn last one)."""
    line = json.dumps(obj) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Every complete JSON object line of a metrics.jsonl, one per epoch (the latest wins), by epoch.

    A torn or garbled line is skipped; a missing file reads as no rows."""
    log = MetricsLog(path, final=True)
    log.poll()
    return log.rows


class MetricsLog:
    """Incremental, tolerant reader of a growing ``metrics.jsonl``.

    Only complete lines are consumed (a line still being written is read next time); lines that are
    not JSON objects are skipped. A file that shrank or was replaced (the trainer rewrites it on
    --resume) is read again from the start. Rows are kept one per epoch (the latest wins), sorted.
    ``final=True`` also reads a last line without a newline (a finished file).
    """

    def __init__(self, path: str | os.PathLike, *, final: bool = False):
        self.path = Path(path)
        self.final = final
        self.skipped_lines = 0
        self._rows: dict[int, dict] = {}
        self._extra: list[dict] = []  # rows without an epoch number
        self._offset = 0
        self._ident = None

    @property
    def rows(self) -> list[dict]:
        return [self._rows[k] for k in sorted(self._rows)] + self._extra

    def _reset(self) -> None:
        self._rows, self._extra, self._offset, self.skipped_lines = {}, [], 0, 0

    def poll(self) -> bool:
        """Read what was appended since the last call. True when the rows changed."""
        try:
            st = os.stat(self.path)
        except OSError:
            changed = bool(self._rows or self._extra)
            self._reset()
            self._ident = None
            return changed
        changed = False
        ident = (st.st_ino, st.st_dev)
        if ident != self._ident or st.st_size < self._offset:
            changed = bool(self._rows or self._extra)
            self._reset()
            self._ident = ident
        if st.st_size == self._offset:
            return changed
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read(st.st_size - self._offset)
        except OSError:
            return changed
        end = data.rfind(b"\n") + 1
        body, tail = data[:end], data[end:]
        lines = body.split(b"\n")
        if self.final and tail.strip():
            lines.append(tail)
            end = len(data)
        self._offset += end
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self.skipped_lines += 1
                continue
            if not isinstance(row, dict):
                self.skipped_lines += 1
                continue
            epoch = row.get("epoch")
            if isinstance(epoch, int) and not isinstance(epoch, bool):
                self._rows[epoch] = row
            else:
                self._extra.append(row)
            changed = True
        return changed
