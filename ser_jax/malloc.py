"""glibc malloc settings for the host memory XLA allocates: run.py restarts itself once with them.

Every buffer of a training step larger than glibc's mmap threshold (at most 32 MiB) is a fresh
mapping, given back to the kernel when freed and asked for again at the next step; the kernel
hands out each of its pages zeroed. Two settings (GLIBC_TUNABLES are read when a process starts):

- **Huge pages** (`glibc.malloc.hugetlb=1`, glibc ≥ 2.35, kernel THP mode `madvise`): malloc
  asks for 2 MiB pages, 512 times fewer faults. On the 2-core development VM a 4 KiB fault cost
  ~2.5 µs: a 421 MB elementwise op 344 → 50 ms, the pairwise step 3.6 → 2.2 s, the parallel
  CNN's default step 260 → 120 ms. With THP mode `always` the kernel uses them already; with
  `never` it cannot.
- **Keeping freed memory while training** (at start `glibc.malloc.arena_max=1`, so every
  thread allocates from the one main heap, and a trim threshold no heap reaches, so freed
  memory stays until train.py hands it back; around the epochs of a fold,
  `keeping_freed_memory`: no mmap): what a step or a validation pass frees is reused by the next
  one instead of going back to the kernel, so the kernel zeroes each page once per fold, not
  once per step. On the same VM, when the host was slow to back fresh pages (91 % of a training
  process's time in the kernel's `clear_page_erms`, `perf`), the CNN + BiGRU's epoch went
  54–61 → 16–17 s. Outside the epochs (final evaluation, embeddings, features) buffers above
  32 MiB are mapped again: kept all the time, a heap that only grows fragments on the final
  evaluation's many shapes (a CNN + BiGRU process peaked at 11.1 GB there, against 4.9 GB with
  huge pages alone). On leaving, the free pages are handed back (`malloc_trim`). One arena
  means one malloc lock for all threads; a training step makes few, large allocations.

`environment` decides what to add at start (a tunable the user's GLIBC_TUNABLES names is left as
the user set it), `for_this_machine` asks this machine. `--nohuge_pages` and
`--nokeep_freed_memory` turn each off; without one arena `keeping_freed_memory` does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
from pathlib import Path

HUGE_PAGES = {"glibc.malloc.hugetlb": "1"}
# one arena; no trimming on its own (a size_t tunable: mallopt's int would trim above 2 GiB, less
# than a CNN + BiGRU validation pass frees)
KEEP_FREED = {"glibc.malloc.arena_max": "1", "glibc.malloc.trim_threshold": str(2 ** 62)}
# mallopt parameters (malloc.h) and the values keeping_freed_memory sets and restores
M_MMAP_THRESHOLD, M_MMAP_MAX = -3, -4
KEEP = {M_MMAP_MAX: 0}
USUAL = {M_MMAP_MAX: 65536, M_MMAP_THRESHOLD: 32 << 20}  # glibc's default count; its dynamic threshold's maximum
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")
MIN_GLIBC_HUGE_PAGES = (2, 35)
MIN_GLIBC_TUNABLES = (2, 26)


def thp_mode(path: Path = THP_SETTING) -> str:
    """The kernel's transparent-huge-page mode (`always`, `madvise`, `never`), or "" if unknown."""
    try:
        found = re.search(r"\[(\w+)\]", path.read_text())
    except OSError:
        return ""
    return found.group(1) if found else ""


def glibc_version(confstr: str | None) -> tuple[int, int] | None:
    """(major, minor) from os.confstr("CS_GNU_LIBC_VERSION") (e.g. "glibc 2.36"), else None."""
    found = re.fullmatch(r"glibc (\d+)\.(\d+).*", confstr or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def environment(environ: dict, mode: str, glibc: tuple[int, int] | None, huge_pages: bool = True,
                keep_freed: bool = True) -> dict | None:
    """The environment to re-execute with, or None when there is nothing to add: not glibc (or one
    without tunables), each setting off or already decided by the user's GLIBC_TUNABLES (by
    tunable name), huge pages only with glibc ≥ 2.35 and the kernel's THP mode `madvise`."""
    if glibc is None or glibc < MIN_GLIBC_TUNABLES:
        return None
    wanted = {}
    if huge_pages and glibc >= MIN_GLIBC_HUGE_PAGES and mode == "madvise":
        wanted.update(HUGE_PAGES)
    if keep_freed:
        wanted.update(KEEP_FREED)
    current = environ.get("GLIBC_TUNABLES", "")
    named = {item.split("=")[0] for item in current.split(":") if item}
    added = [f"{name}={value}" for name, value in wanted.items() if name not in named]
    if not added:
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, [current, *added]))}


def for_this_machine(environ: dict, huge_pages: bool = True, keep_freed: bool = True) -> dict | None:
    """`environment` with this machine's glibc and kernel THP mode."""
    confstr = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else None
    return environment(environ, thp_mode(), glibc_version(confstr), huge_pages, keep_freed)


def one_arena(environ: dict) -> bool:
    """Whether this process started with glibc's one-arena setting (what `environment` adds)."""
    return "glibc.malloc.arena_max=1" in environ.get("GLIBC_TUNABLES", "").split(":")


def _libc():
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    return libc


@contextlib.contextmanager
def keeping_freed_memory():
    """Within: every allocation from the heap, so what is freed is reused (no mmap; the trim
    threshold set at start keeps it). On leaving: buffers above 32 MiB mapped again, and the free
    pages handed back. Does nothing unless the process runs with one arena (`one_arena`) on glibc."""
    libc = _libc() if one_arena(os.environ) else None
    if libc is not None:
        for param, value in KEEP.items():
            libc.mallopt(param, value)
    try:
        yield
    finally:
        if libc is not None:
            for param, value in USUAL.items():
                libc.mallopt(param, value)
            libc.malloc_trim(0)
