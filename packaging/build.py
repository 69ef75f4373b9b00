"""Build the self-contained Latent Explorer app with PyInstaller, then check what was built.

    python packaging/build.py [--gpu] [--mp4] [--dist DIR] [--work DIR] [--smoke]

Writes DIR/latent-explorer/ (default dist/latent-explorer/): the executable ``latent-explorer``
(``latent-explorer.exe`` on Windows) with Python, Qt, onnxruntime and the bundled models inside.
On macOS it also writes ``DIR/Latent Explorer.app``. Every run starts from a clean work folder, so
a stale build can never hide a failure.

Checks after the build (exit 2 when one fails): the executable exists, and no torch (or training
code) was pulled in. ``--smoke`` also runs ``latent-explorer --screenshot`` offscreen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "latent-explorer.spec"
NAME = "latent-explorer"
# A file or folder with one of these names in the app means torch (or our training code) came along.
FORBIDDEN = ("torch", "libtorch", "libtorch_cpu.so", "libc10.so", "training")


def executable(dist: Path) -> Path:
    folder = dist / NAME
    return folder / (f"{NAME}.exe" if sys.platform == "win32" else NAME)


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def forbidden_files(folder: Path) -> list[str]:
    """Paths inside the app whose name says torch or training (empty when the app is clean)."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.name.split(".")[0] in FORBIDDEN or p.name.startswith("libtorch")]


def bundled_modules(work: Path) -> list[str]:
    """Names of the Python modules PyInstaller put in the app (from its PYZ table of contents)."""
    import ast

    toc = work / NAME / "PYZ-00.toc"
    if not toc.is_file():
        return []
    _, entries = ast.literal_eval(toc.read_text())
    return [entry[0] for entry in entries]


def forbidden_modules(work: Path) -> list[str]:
    """Bundled modules that are torch or our training code (empty when the app is clean)."""
    return [m for m in bundled_modules(work) if m.split(".")[0] in FORBIDDEN]


def build(dist: Path, work: Path, *, gpu: bool = False, mp4: bool = False, quiet: bool = False) -> Path:
    """Run PyInstaller on the spec from a clean work folder; returns the executable."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(dist / NAME, ignore_errors=True)
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--clean",
           "--distpath", str(dist), "--workpath", str(work)]
    if quiet:
        cmd += ["--log-level", "WARN"]
    extra = (["--gpu"] if gpu else []) + (["--mp4"] if mp4 else [])
    if extra:
        cmd += ["--", *extra]
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit("build: PyInstaller is not installed; pip install 'pyinstaller>=6' "
                         "(or: pip install -e '.[package]')") from None
    subprocess.run(cmd, cwd=ROOT, check=True)
    exe = executable(dist)
    if not exe.is_file():
        raise SystemExit(f"build: expected the executable {exe}, found none")
    if sys.platform.startswith("linux"):
        add_desktop_files(exe.parent)
    return exe


def add_desktop_files(folder: Path) -> None:
    """Linux: put install.sh and what it registers (menu entry, .onnx MIME type, icons) next to the app."""
    share = folder / "share"
    (share / "icons").mkdir(parents=True, exist_ok=True)
    linux = HERE / "linux"
    shutil.copy2(linux / "install.sh", folder / "install.sh")
    for name in ("latent-explorer.desktop", "latent-explorer-mime.xml"):
        shutil.copy2(linux / name, share / name)
    icons = HERE / "icons"
    shutil.copy2(icons / "latent-explorer.svg", share / "icons" / "latent-explorer.svg")
    for png in (icons / "png").glob("latent-explorer-*.png"):
        shutil.copy2(png, share / "icons" / png.name)


def smoke(exe: Path, out: Path) -> float:
    """Run the app offscreen with --screenshot; returns the wall time in seconds."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("LATENT_EXPLORER_MODELS", None)  # the models inside the app, not a developer's folder
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "--screenshot", str(out)], env=env, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - t0
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"build: the built app failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", action="store_true", help="keep onnxruntime's CUDA/TensorRT providers (+~270 MB)")
    ap.add_argument("--mp4", action="store_true", help="keep imageio-ffmpeg for MP4 export (+165 MB)")
    ap.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller", help="scratch folder, emptied first")
    ap.add_argument("--smoke", action="store_true", help="also run the built app with --screenshot")
    ap.add_argument("--quiet", action="store_true", help="PyInstaller warnings only")
    args = ap.parse_args()
    t0 = time.perf_counter()
    exe = build(args.dist.resolve(), args.work.resolve(), gpu=args.gpu, mp4=args.mp4, quiet=args.quiet)
    took = time.perf_counter() - t0
    folder = exe.parent
    bad = forbidden_files(folder) + forbidden_modules(args.work.resolve())
    if bad:
        print(f"build: torch or training code is in the app, expected neither: {bad[:5]}", file=sys.stderr)
        return 2
    size = folder_size(folder) / 1e6
    print(f"built {folder} in {took:.0f} s: {size:.0f} MB, no torch")
    if args.smoke:
        shot = args.work.resolve() / "smoke.png"
        print(f"smoke test: --screenshot {shot} in {smoke(exe, shot):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
