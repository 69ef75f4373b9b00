"""The class options of ``latent-explorer render``: a style x garment grid (``--classes``) or one
class in every cell (``--class``), for class-conditional models.

    latent-explorer render MODEL --classes all --grid 10x8 [--row-labels] --out g.png
    latent-explorer render MODEL --classes Dress,Coat --out g.png
    latent-explorer render MODEL --class Dress --grid 8x8 --out g.png

Without class options the grid is the plain render grid (conditional models cycle their classes row
by row, as before). Errors are ModelError with one line: the CLI prints it and exits 2.
"""

from __future__ import annotations

import numpy as np

from explorer.io.classes import class_index
from explorer.io.model_error import ModelError

DEFAULT_GRID = (8, 8)
DEFAULT_STYLES = 8  # columns of a style x garment grid when --grid is not given
MAX_ROWS = 32  # as --grid allows


class ClassOptionError(ModelError):
    """A class option that cannot be used with this model or with the other options (one line)."""


def no_class_input(option: str, model) -> ClassOptionError:
    return ClassOptionError(f"{option} needs a class-conditional model; {model.name} has no class input "
                            "(it takes latents only)")


def parse_class_list(text: str, names) -> list[int]:
    """'all' -> every class; 'Dress,Coat' or '1,2' -> those classes (unknown names list the valid ones)."""
    if text.strip().lower() == "all":
        return list(range(len(names)))
    parts = [p for p in (s.strip() for s in text.split(",")) if p]
    if not parts:
        raise ClassOptionError(f"--classes takes 'all' or class names/indices separated by commas, found {text!r}")
    return [class_index(p, names) for p in parts]


def render_for_args(model, args, policy, scale: int):
    """(image, finite, (rows, cols), what) for the render command's arguments; what names the classes."""
    from explorer.core.render import render_class_grid, render_grid

    if args.classes is not None and args.one_class is not None:
        raise ClassOptionError("--classes (one row per class) and --class (one class everywhere) exclude each other")
    if args.row_labels and args.classes is None:
        raise ClassOptionError("--row-labels labels the rows of a --classes grid; add --classes")
    for option, value in (("--classes", args.classes), ("--class", args.one_class)):
        if value is not None and not model.conditional:
            raise no_class_input(option, model)
    names = model.class_names
    if args.classes is not None:
        classes = parse_class_list(args.classes, names)
        if len(classes) > MAX_ROWS:
            raise ClassOptionError(f"--classes {args.classes} asks for {len(classes)} rows, a grid takes at most "
                                   f"{MAX_ROWS}: name the classes to draw (--classes A,B,...)")
        rows, cols = args.grid or (len(classes), DEFAULT_STYLES)
        if rows != len(classes):
            raise ClassOptionError(f"--classes {args.classes} draws one row per class ({len(classes)} rows); "
                                   f"--grid {rows}x{cols} asks for {rows}: pass --grid {len(classes)}x{cols}")
        labels = [names[c] for c in classes] if args.row_labels else None
        image, finite = render_class_grid(model, classes, cols, policy, scale=scale, row_labels=labels)
        return image, finite, (rows, cols), f", {len(classes)} classes x {cols} styles"
    rows, cols = args.grid or DEFAULT_GRID
    labels = None
    what = ""
    if args.one_class is not None:
        c = class_index(args.one_class, names)
        labels = np.full(rows * cols, c, np.int64)
        what = f", class {names[c]}"
    image, finite = render_grid(model, rows, cols, policy, scale=scale, labels=labels)
    return image, finite, (rows, cols), what
