"""Transparent huge pages for the host memory XLA allocates, through glibc's malloc.

Every buffer of a training step larger than glibc's mmap threshold is a fresh mapping: its
first touch costs one page fault per 4 KiB. On the 2-core development VM a fault costs
~2.5 µs, so a 421 MB activation (the pairwise encoder's first layer) spent ~250 ms in page
faults each step, longer than the arithmetic. glibc (2.35 and later) can ask the kernel for
2 MiB pages on its mappings (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, read when a process
starts): 512 times fewer faults. Measured there, one core: a 421 MB elementwise op 344 → 50 ms,
the pairwise step 3.6 → 2.2 s, the parallel CNN's default step 260 → 120 ms.

The kernel must allow it (`/sys/kernel/mm/transparent_hugepage/enabled`: `madvise`; with
`always` every mapping gets huge pages already, with `never` none can). run.py re-executes
itself once with the tunable set (`--huge_pages`, on by default); `environment` decides,
`for_this_machine` asks this machine.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TUNABLE = "glibc.malloc.hugetlb"
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")
MIN_GLIBC = (2, 35)


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


def environment(environ: dict, mode: str, glibc: tuple[int, int] | None) -> dict | None:
    """The environment to re-execute with so that malloc uses huge pages, or None when there
    is nothing to do: not glibc ≥ 2.35, the kernel's mode is not `madvise` (with `always`
    they are used already), or GLIBC_TUNABLES already sets the tunable (the user's choice)."""
    current = environ.get("GLIBC_TUNABLES", "")
    if glibc is None or glibc < MIN_GLIBC or mode != "madvise" or TUNABLE in current:
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, [current, f"{TUNABLE}=1"]))}


def for_this_machine(environ: dict) -> dict | None:
    """`environment` with this machine's glibc and kernel THP mode."""
    confstr = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else None
    return environment(environ, thp_mode(), glibc_version(confstr))
