"""What a fresh page costs on this machine: the reason for run.py's malloc settings (ser_jax/malloc.py).

A training step's large buffers are fresh mappings unless malloc keeps freed memory: the kernel
faults each page in and zeroes it, every step. This maps --mb MiB of anonymous memory, writes
one byte per 4 KiB page, and reports the time per GiB: with 4 KiB pages, with 2 MiB pages
(MADV_HUGEPAGE, what `glibc.malloc.hugetlb=1` asks for), and writing the same pages again
(memory kept for reuse: no kernel work), with the share of that time spent in the kernel.

    taskset -c 1 python benchmarks/fresh_pages.py --mb 1024 --repeats 5
"""

from __future__ import annotations

import argparse
import mmap
import resource
import statistics
import time

PAGE = 4096


def _touch(buf: mmap.mmap, size: int) -> tuple[float, float]:
    """Writes one byte per page; returns (wall seconds, system CPU seconds)."""
    start, system = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
    for offset in range(0, size, PAGE):
        buf[offset] = 1
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_stime - system


def _fresh(size: int, huge: bool) -> tuple[float, float]:
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if huge:
        buf.madvise(mmap.MADV_HUGEPAGE)
    measured = _touch(buf, size)
    buf.close()
    return measured


def _reused(size: int) -> tuple[float, float]:
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _touch(buf, size)
    measured = _touch(buf, size)
    buf.close()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1024, help="MiB mapped per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per kind (median, min–max)")
    args = parser.parse_args()
    size = args.mb << 20
    gib = size / (1 << 30)
    kinds = {"fresh 4 KiB pages": lambda: _fresh(size, False),
             "fresh 2 MiB pages (MADV_HUGEPAGE)": lambda: _fresh(size, True),
             "the same pages again (kept)": lambda: _reused(size)}
    print(f"{args.mb} MiB per measurement, {args.repeats} repeats; seconds per GiB, median [min–max], "
          "and the kernel's (system) share of them")
    for name, measure in kinds.items():
        runs = [measure() for _ in range(args.repeats)]
        times = [wall / gib for wall, _ in runs]
        system = sum(s for _, s in runs) / max(sum(wall for wall, _ in runs), 1e-9)
        print(f"{name:36} {statistics.median(times):7.3f} s/GiB [{min(times):.3f}–{max(times):.3f}]  "
              f"system {100 * system:3.0f} %")


if __name__ == "__main__":
    main()
