"""Sessions: everything a user built, as one readable, versioned JSON file (Qt-free).

A session holds the open models (by path), the active one, grid settings and latents, path
endpoints, one section per part of the app that keeps state (``docks``: the interpolation path,
the directions, the latent map, keyed by the part's name) and the window's view settings.
``capture`` reads it from the models; ``restore`` puts it back, asking a callback for models that
moved instead of failing, and turning a part that cannot be restored into one line while the rest
comes back. Files are written atomically (see explorer.io.exports).

Version 1 files (before the parts had sections) kept ``paths``, ``directions``, ``selections`` and
``view.map`` / ``view.path_fps`` at the top level; they are read into the same sections.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol

import numpy as np

SESSION_FORMAT = "latent-explorer-session"
SESSION_VERSION = 2
ENV_SESSION_DIR = "LATENT_EXPLORER_SESSION_DIR"
LAST_SESSION_FILE = "last-session.json"


class SessionPart(Protocol):
    """A model whose state a session keeps (PathEditor, DirectionList, the map's state).

    ``save_state()`` returns a JSON-ready dict ({} = nothing to keep); ``restore_state(state)``
    puts it back and returns one line per thing that could not be restored.
    """

    def save_state(self) -> dict: ...

    def restore_state(self, state: dict) -> list[str]: ...


class SessionError(ValueError):
    """A session file cannot be used. ``str()`` is one line: what, why, what to do."""


def _floats(a) -> list:
    """float32 values as the shortest decimals that read back to the same float32 (readable JSON)."""
    arr = np.asarray(a, np.float32)
    if arr.ndim == 0:
        return float(np.format_float_positional(np.float32(arr), unique=True))
    return [_floats(x) for x in arr]


@dataclass(frozen=True)
class ModelRef:
    """A model the session had open: its file (or bundle folder) and display name."""

    path: str
    name: str = ""

    def exists(self) -> bool:
        return Path(self.path).expanduser().exists()


@dataclass
class Session:
    models: list[ModelRef] = field(default_factory=list)
    active: str | None = None  # path of the active model, as in ``models``
    # rows, cols, seed, temperature, truncation, class_choice, latents; for a class-conditional model also
    # garment_mode (the style x garment grid), class_weights [N, K], blend_pairs [N, 2], blend_stops
    grid: dict = field(default_factory=dict)
    endpoints: list[dict] = field(default_factory=list)  # {"model", "z", "label", "weights"}
    docks: dict[str, dict] = field(default_factory=dict)  # part name -> its JSON-ready state (SessionPart)
    view: dict = field(default_factory=dict)  # free-form, JSON-ready: the window's own view settings
    version: int = SESSION_VERSION
    notes: list[str] = field(default_factory=list, compare=False)  # parts left out by capture (not saved)

    # ---- JSON -----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        grid = dict(self.grid)
        for key in ("latents", "class_weights"):
            if key in grid and grid[key] is not None:
                grid[key] = _floats(grid[key])
        if grid.get("blend_pairs") is not None:
            grid["blend_pairs"] = np.asarray(grid["blend_pairs"]).astype(int).tolist()
        return {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "models": [{"path": m.path, "name": m.name} for m in self.models],
            "active": self.active,
            "grid": grid,
            "endpoints": [{"model": e["model"], "z": _floats(e["z"]), "label": e.get("label"),
                           **({} if e.get("weights") is None else {"weights": _floats(e["weights"])})}
                          for e in self.endpoints],
            "docks": self.docks,
            "view": self.view,
        }

    @classmethod
    def from_json(cls, data, *, source: str = "session") -> "Session":
        if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
            raise SessionError(f"{source}: not a Latent Explorer session (format {SESSION_FORMAT!r} missing)")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SessionError(f"{source}: session version is {version!r}, expected a positive integer")
        if version > SESSION_VERSION:
            raise SessionError(f"{source}: session version {version} is newer than this app understands "
                               f"({SESSION_VERSION}); update Latent Explorer to open it")
        try:
            models = [ModelRef(str(m["path"]), str(m.get("name", ""))) for m in data.get("models", [])]
            grid = dict(data.get("grid") or {})
            if grid.get("latents") is not None:
                with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused by _check_values
                    grid["latents"] = np.asarray(grid["latents"], np.float32)
            if grid.get("class_weights") is not None:
                with np.errstate(over="ignore"):
                    grid["class_weights"] = np.asarray(grid["class_weights"], np.float32)
            if grid.get("blend_pairs") is not None:
                grid["blend_pairs"] = np.asarray(grid["blend_pairs"], np.int64)
            endpoints = [{"model": str(e["model"]), "z": np.asarray(e["z"], np.float32), "label": e.get("label"),
                          "weights": None if e.get("weights") is None else np.asarray(e["weights"], np.float32)}
                         for e in data.get("endpoints", [])]
            view = dict(data.get("view") or {})
            docks = _docks_of_version_1(data, view) if version == 1 else dict(data.get("docks") or {})
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise SessionError(f"{source}: malformed session ({_reason(exc)})") from None
        _check_values(grid, endpoints, view, source)
        active = data.get("active")
        return cls(models, None if active is None else str(active), grid, endpoints, docks, view, version)

    def missing_models(self) -> list[ModelRef]:
        return [m for m in self.models if not m.exists()]

    def relocate(self, old: str, new: str) -> None:
        """A model moved from ``old`` to ``new``: update every reference to it."""
        self.models = [ModelRef(new, m.name) if m.path == old else m for m in self.models]
        if self.active == old:
            self.active = new


# What a session may set, in the type and range it is used in (the grid's controls and models).
SEED_MAX = 2**31 - 2  # the seed box holds int32, and Re-roll adds one
GRID_SIDE_MAX = 32  # explorer.core.grid.MAX_SIDE
TEMPERATURE_RANGE = (0.05, 3.0)
TRUNCATION_RANGE = (0.1, 4.0)
CELL_PX_RANGE = (8, 512)
LATENT_DIM_MAX = 65_536  # explorer.io.contract.MAX_LATENT_DIM
CLASS_MAX = 100_000


def _reason(exc: BaseException) -> str:
    """What was wrong, in words: the message of a standard exception, never its class name."""
    lines = str(exc).strip().splitlines()
    return lines[0][:160] if lines else "unreadable values"


def _short(value, limit: int = 40) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python prints
        text = "a number too large to print"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_values(grid: dict, endpoints: list[dict], view: dict, source: str) -> None:
    """SessionError naming the first value that is not in the type and range the app uses it in."""

    def bad(where: str, value, expected: str) -> SessionError:
        return SessionError(f"{source}: {where} is {_short(value)}, expected {expected}")

    def integer(where, value, low, high, *, optional=False):
        if value is None and optional:
            return
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise bad(where, value, f"an integer in {low}..{high}")

    def number(where, value, low, high, *, optional=False):
        if value is None and optional:
            return
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not np.isfinite(float(value)) or not low <= value <= high):
            raise bad(where, value, f"a number in {low}..{high}")

    for key in ("rows", "cols"):
        if key in grid:
            integer(f"grid '{key}'", grid[key], 1, GRID_SIDE_MAX)
    if "seed" in grid:
        integer("grid 'seed'", grid["seed"], 0, SEED_MAX)
    if "temperature" in grid:
        number("grid 'temperature'", grid["temperature"], *TEMPERATURE_RANGE)
    number("grid 'truncation'", grid.get("truncation"), *TRUNCATION_RANGE, optional=True)
    integer("grid 'class_choice'", grid.get("class_choice"), -1, CLASS_MAX, optional=True)
    integer("grid 'focus'", grid.get("focus"), 0, GRID_SIDE_MAX ** 2 - 1, optional=True)
    z = grid.get("latents")
    if z is not None and (z.ndim != 2 or z.shape[0] > GRID_SIDE_MAX ** 2 or not 0 < z.shape[1] <= LATENT_DIM_MAX
                          or not np.isfinite(z).all()):
        raise SessionError(f"{source}: grid 'latents' has shape {list(z.shape)}, expected finite numbers "
                           f"[cells, D] with at most {GRID_SIDE_MAX ** 2} cells and D in 1..{LATENT_DIM_MAX}")
    w = grid.get("class_weights")
    if w is not None and (w.ndim != 2 or w.shape[0] > GRID_SIDE_MAX ** 2 or not 0 < w.shape[1] <= CLASS_MAX
                          or not np.isfinite(w).all()):
        raise SessionError(f"{source}: grid 'class_weights' has shape {list(w.shape)}, expected finite numbers "
                           f"[cells, classes] with at most {GRID_SIDE_MAX ** 2} cells")
    pairs = grid.get("blend_pairs")
    if pairs is not None and (pairs.ndim != 2 or pairs.shape[1:] != (2,) or (pairs.size and pairs.min() < 0)):
        raise SessionError(f"{source}: grid 'blend_pairs' has shape {list(pairs.shape)}, expected class indices "
                           "[cells, 2]")
    for key in ("garment_mode", "blend_stops"):
        if key in grid and not isinstance(grid[key], bool):
            raise bad(f"grid '{key}'", grid[key], "true or false")
    if "model" in grid and not isinstance(grid["model"], str):
        raise bad("grid 'model'", grid["model"], "a model name")
    for i, e in enumerate(endpoints):
        z = e["z"]
        if z.ndim != 1 or not 0 < z.size <= LATENT_DIM_MAX or not np.isfinite(z).all():
            raise SessionError(f"{source}: endpoint {i + 1} has a latent of shape {list(z.shape)}, expected "
                               f"finite numbers [D] with D in 1..{LATENT_DIM_MAX}")
        integer(f"endpoint {i + 1} 'label'", e.get("label"), 0, CLASS_MAX, optional=True)
        w = e.get("weights")
        if w is not None and (w.ndim != 1 or not 0 < w.size <= CLASS_MAX or not np.isfinite(w).all()):
            raise SessionError(f"{source}: endpoint {i + 1} has class weights of shape {list(w.shape)}, expected "
                               "finite numbers [classes]")
    integer("view 'cell_px'", view.get("cell_px"), *CELL_PX_RANGE, optional=True)


def save_session(session: Session, path: str | os.PathLike) -> Path:
    """Write atomically; the previous file stays intact if anything fails (ExportError, one line)."""
    from explorer.io.exports import write_json

    return write_json(session.to_json(), path)


def load_session(path: str | os.PathLike) -> Session:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionError(f"{path}: no such session file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or "unreadable")
        raise SessionError(f"{path.name}: cannot read it ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionError(f"{path.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except ValueError:  # an integer longer than Python's int conversion allows
        raise SessionError(f"{path.name}: expected JSON of ordinary numbers, found a number too long to read") from None
    except RecursionError:
        raise SessionError(f"{path.name}: expected a session, found JSON nested too deeply to read") from None
    try:
        return Session.from_json(data, source=path.name)
    except RecursionError:  # deep nesting inside a section
        raise SessionError(f"{path.name}: expected a session, found JSON nested too deeply to read") from None


def config_dir() -> Path:
    """The app's one folder of settings and sessions: ``$XDG_CONFIG_HOME/latent-explorer`` (else
    ``~/.config/latent-explorer``); ``$LATENT_EXPLORER_SESSION_DIR`` moves it. It may not exist yet
    (a new account): writers create it (:func:`save_last_session`)."""
    env = os.environ.get(ENV_SESSION_DIR)
    if env:
        return Path(env).expanduser()
    root = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return root / "latent-explorer"


def last_session_path() -> Path:
    """Where the app keeps the session it reopens at start."""
    return config_dir() / LAST_SESSION_FILE


def save_last_session(session: Session, path: str | os.PathLike) -> Path:
    """Save the session kept between launches, creating its folder first (a fresh account has no
    config folder yet). ExportError (one line) when the folder or the file cannot be written."""
    from explorer.io.files import write_failure

    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(path, f"cannot create the folder {path.parent} ({exc.strerror or exc})") from None
    return save_session(session, path)


# ---- from and to the app state -----------------------------------------------------------------

def capture(state, grid=None, *, parts: Mapping[str, SessionPart] | None = None, view=None) -> Session:
    """A Session from an AppState (explorer.core.state), a SampleGrid (explorer.core.grid) and the
    models of the parts, by section name (``{"path": editor, "directions": directions, ...}``); no Qt involved.

    A part whose state cannot be read or is not JSON-ready is left out and named in ``Session.notes``.
    """
    models = [ModelRef(str(m.path), m.name) for m in state.models]
    active = str(state.active.path) if state.active is not None else None
    grid_data: dict = {}
    if grid is not None:
        p = grid.policy
        grid_data = {"rows": grid.rows, "cols": grid.cols, "seed": p.seed, "temperature": p.temperature,
                     "truncation": p.truncation, "class_choice": grid.class_choice, "focus": grid.focus}
        if grid.model is not None:
            grid_data["latents"] = np.array(grid.latents, np.float32)
            grid_data["model"] = grid.model.name
            if grid.classes is not None:  # a class-conditional model: its garments, blends and mode
                grid_data.update(garment_mode=bool(grid.garment_mode), blend_stops=bool(grid.blend_stops),
                                 class_weights=np.array(grid.classes, np.float32),
                                 blend_pairs=np.array(grid.pairs, np.int64))
    endpoints = [{"model": e.model, "z": np.asarray(e.z, np.float32), "label": e.label,
                  "weights": getattr(e, "weights", None)} for e in state.path_endpoints]
    docks, notes = {}, []
    for key, part in (parts or {}).items():
        try:
            saved = part.save_state()
            json.dumps(saved)  # JSON-ready, or left out here rather than failing the whole file later
        except Exception as exc:  # one part that cannot describe itself must not stop the session from saving
            notes.append(f"{key} left out ({type(exc).__name__}: {exc})")
            continue
        if saved:
            docks[key] = saved
    return Session(models, active, grid_data, endpoints, docks, dict(view or {}), notes=notes)


@dataclass
class RestoreReport:
    opened: list[str] = field(default_factory=list)
    missing: list[ModelRef] = field(default_factory=list)  # not found and not relocated: left out
    errors: list[str] = field(default_factory=list)  # one line each

    def summary(self) -> str:
        parts = [f"{len(self.opened)} model(s) reopened"]
        if self.missing:
            parts.append(f"{len(self.missing)} not found ({', '.join(m.name or Path(m.path).name for m in self.missing)})")
        parts += self.errors
        return "; ".join(parts)


def restore(session: Session, state, grid=None, *, parts: Mapping[str, SessionPart] | None = None,
            locate: Callable[[ModelRef], str | None] | None = None) -> RestoreReport:
    """Open the session's models into ``state``, put the grid back, then each part's saved section.

    A model whose file is gone is offered to ``locate(ref) -> new path or None`` (the UI asks the
    user); when it returns None the model is left out and reported, nothing else fails. A part that
    cannot be restored becomes one line in the report; the other parts are still restored.
    """
    from explorer.core.latents import SamplingPolicy
    from explorer.io.runtime import ModelError

    report = RestoreReport()
    active_model = None
    for ref in list(session.models):
        path = ref.path
        if not ref.exists():
            new = locate(ref) if locate is not None else None
            if not new:
                report.missing.append(ref)
                continue
            session.relocate(ref.path, str(new))
            path = str(new)
        try:
            model = state.open(path, activate=False)
        except ModelError as exc:
            report.errors.append(str(exc))
            continue
        report.opened.append(path)
        if session.active == path:
            active_model = model
    if active_model is not None:
        state.set_active(active_model)
    for e in session.endpoints:
        state.path_endpoints.append(_endpoint(e))
    if session.endpoints:
        state.endpoints_changed.emit()
    if grid is not None and session.grid:
        g = session.grid
        try:
            if state.active is not None and grid.model is not state.active:
                grid.set_model(state.active)
            same_model = grid.model is not None and g.get("model") == grid.model.name
            if same_model and grid.num_classes:  # before the size: in this mode the rows are the classes
                grid.set_garment_mode(bool(g.get("garment_mode", False)))
            grid.set_size(int(g.get("rows", grid.rows)), int(g.get("cols", grid.cols)))
            policy = SamplingPolicy(int(g.get("seed", 0)), float(g.get("temperature", 1.0)),
                                    None if g.get("truncation") is None else float(g["truncation"]))
            grid.set_policy(policy)
            if g.get("class_choice") is not None:
                grid.set_class_choice(int(g["class_choice"]))
            z = g.get("latents")
            if (z is not None and grid.model is not None and g.get("model") == grid.model.name
                    and np.shape(z) == grid.latents.shape):
                grid.set_all_latents(np.asarray(z, np.float32))
            if same_model and grid.num_classes:
                grid.set_blend_stops(bool(g.get("blend_stops", False)))
                if g.get("class_weights") is not None:
                    try:
                        grid.set_all_weights(g["class_weights"], g.get("blend_pairs"))
                    except ModelError as exc:
                        report.errors.append(f"grid garments not restored ({exc})")
            if g.get("focus") is not None and 0 <= int(g["focus"]) < grid.count:
                grid.set_focus(int(g["focus"]))
        except (ValueError, TypeError) as exc:
            report.errors.append(f"grid settings not restored ({exc})")
    for key, part in (parts or {}).items():
        saved = session.docks.get(key)
        if saved is None:
            continue
        if not isinstance(saved, dict):
            report.errors.append(f"{key} not restored (expected an object, found {type(saved).__name__})")
            continue
        try:
            report.errors.extend(part.restore_state(saved))
        except Exception as exc:  # a part that cannot take its state back must not stop the others
            report.errors.append(f"{key} not restored ({type(exc).__name__}: {exc})")
    return report


def _endpoint(e: dict):
    from explorer.core.state import PathEndpoint

    weights = e.get("weights")
    return PathEndpoint(e["model"], np.asarray(e["z"], np.float32), e.get("label"),
                        None if weights is None else np.asarray(weights, np.float32))


def _docks_of_version_1(data: dict, view: dict) -> dict[str, dict]:
    """Version 1 kept the parts' state at the top level and in ``view``: the same sections, read from there.

    ``view`` loses the entries that moved (``map``, ``path_fps``).
    """
    docks: dict[str, dict] = {}
    path = {"paths": list(data.get("paths") or [])}
    fps = view.pop("path_fps", None)
    if fps is not None:
        path["fps"] = fps
    if path["paths"] or fps is not None:
        docks["path"] = path
    if data.get("directions"):
        docks["directions"] = {"directions": list(data["directions"])}
    latent_map = {}
    if data.get("selections"):
        latent_map["groups"] = {str(k): [int(i) for i in v] for k, v in dict(data["selections"]).items()}
    map_view = view.pop("map", None)
    if map_view:
        latent_map["view"] = map_view
    if latent_map:
        docks["map"] = latent_map
    return docks
