"""Limit the BLAS thread pool of the running process (numpy's OpenBLAS) without threadpoolctl.

Why: on a busy 2-core machine two-thread BLAS in a background worker stalled badly (metrics.md),
and numpy is already imported by the time the monitor starts, so environment variables are too late.
OpenBLAS's setting is process-wide; the GUI thread does no heavy BLAS, so that is what we want.
"""

from __future__ import annotations

import ctypes
import sys

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads", "MKL_Set_Num_Threads")


def _loaded_blas_libraries() -> list[str]:
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split()[-1] for line in fh if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if "openblas" in p.lower() or "libmkl_rt" in p.lower())


def limit_blas_threads(n: int = 1) -> bool:
    """Set the BLAS pool to ``n`` threads. True when a BLAS library accepted it.

    Uses threadpoolctl when installed, else the OpenBLAS/MKL setter found among loaded libraries.
    """
    try:
        from threadpoolctl import threadpool_limits  # optional

        threadpool_limits(n, user_api="blas")
        return True
    except Exception:
        pass
    import numpy  # noqa: F401  (make sure numpy's BLAS is loaded before looking for it)

    done = False
    for path in _loaded_blas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                done = True
                break
    return done
