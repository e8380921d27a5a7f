"""glibc malloc settings for the host memory XLA allocates: run.py restarts itself once with them.

Every buffer of a training step larger than glibc's mmap threshold (at most 32 MiB) is a fresh
mapping, given back to the kernel when freed and asked for again at the next step; the kernel
hands out each of its pages zeroed. Two settings (GLIBC_TUNABLES, read when a process starts):

- **Huge pages** (`glibc.malloc.hugetlb=1`, glibc ≥ 2.35, kernel THP mode `madvise`): malloc
  asks for 2 MiB pages, 512 times fewer faults. On the 2-core development VM a 4 KiB fault cost
  ~2.5 µs: a 421 MB elementwise op 344 → 50 ms, the pairwise step 3.6 → 2.2 s, the parallel
  CNN's default step 260 → 120 ms. With THP mode `always` the kernel uses them already; with
  `never` it cannot.
- **Keeping freed memory** (`glibc.malloc.arena_max=1`, `mmap_max=0`, a trim threshold no heap
  reaches): every allocation comes from the one main heap, and what a step frees is reused by
  the next step instead of going back to the kernel, so the kernel zeroes each page once per
  process, not once per step. On the same VM, when the host was slow to back fresh pages (91 %
  of a training process's time in the kernel's `clear_page_erms`, `perf`), the CNN + BiGRU's
  epoch went 54–61 → 16–17 s (23–26 s on that VM's good days with huge pages alone). One arena
  means one malloc lock for all threads; a training step makes few, large allocations.

Kept memory is never handed back by itself, and a heap that only grows fragments: a new
fold's allocations land in the holes the last one left, and its step buffers then extend the
heap (a CNN + BiGRU sweep process: 6.6 GB in one fold, 12.4 GB in the next). train.py calls
`release_free_memory` (glibc's `malloc_trim(0)`: 12.4 → 1.6 GB there) after each fold, so a
process holds at most one fold's working set and its free holes (6.8 GB for that model, where
huge pages alone peaked at 4.9 GB): each page is zeroed once per fold instead of once per step.

`environment` decides what to add (a tunable the user's GLIBC_TUNABLES names is left as the
user set it), `for_this_machine` asks this machine. `--nohuge_pages` and `--nokeep_freed_memory`
turn each off.
"""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

HUGE_PAGES = {"glibc.malloc.hugetlb": "1"}
KEEP_FREED = {"glibc.malloc.arena_max": "1", "glibc.malloc.mmap_max": "0",
              "glibc.malloc.trim_threshold": str(2 ** 62)}
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


def release_free_memory() -> bool:
    """Hands the free pages of glibc's heap back to the kernel (`malloc_trim(0)`); False where
    there is no glibc or nothing was released."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))
