"""What verifying a feature-cache entry costs when it is opened (ser_jax/feature_cache.py).

Writes a synthetic variable-length entry the size of HOURS of speech (log-mel at the
strong recipe's settings: 64 bands, hop 512 at 16 kHz = 31.25 frames/s, utterances of
~3 s), then opens it as training does: every record's CRC-32 checked. Prints the entry's
size, the time to open it with and without the check, and the check's throughput. The
first open reads the files from disk; the others from the page cache.

    python benchmarks/cache_verify.py --hours 100 --folder /tmp/cache_bench
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from ser_jax import feature_cache, features


def build(folder: Path, hours: float, seconds_per_utterance: float = 3.0, bins: int = 64) -> tuple[Path, int]:
    frames_per_s = 16000 / 512
    n = int(hours * 3600 / seconds_per_utterance)
    rng = np.random.default_rng(0)
    lengths = rng.integers(int(0.5 * seconds_per_utterance * frames_per_s),
                           int(1.5 * seconds_per_utterance * frames_per_s), n).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    entry = folder / "entry"
    entry.mkdir(parents=True)
    data = np.lib.format.open_memmap(entry / "frames.npy", mode="w+", dtype=np.float32, shape=(int(offsets[-1]), bins))
    checksums = np.zeros(n, np.uint32)
    block = rng.standard_normal((4096, bins)).astype(np.float32)
    for r in range(n):
        rows = np.resize(block, (int(lengths[r]), bins)) + np.float32(r % 1000)
        data[offsets[r]:offsets[r + 1]] = rows
        checksums[r] = zlib.crc32(np.ascontiguousarray(rows))
    data.flush()
    del data
    np.save(entry / "offsets.npy", offsets)
    np.save(entry / "lengths.npy", lengths)
    np.save(entry / "checksums.npy", checksums)
    return entry, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=100.0)
    parser.add_argument("--folder", default="", help="where to write the entry (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="cache_verify_"))
    params = dataclasses.replace(features.PRESETS["tripathi_mel"], n_mels=64, crop_seconds=0.0)
    try:
        start = time.perf_counter()
        entry, n = build(folder, args.hours)
        size = sum(p.stat().st_size for p in entry.iterdir())
        print(f"synthetic entry: {args.hours:g} h, {n:,} utterances, {size / 1e9:.2f} GB, written in "
              f"{time.perf_counter() - start:.1f} s")
        for attempt in range(3):
            start = time.perf_counter()
            feature_cache._open(entry, params, computed=False, expected=n)  # the check training runs
            checked = time.perf_counter() - start
            start = time.perf_counter()
            np.load(entry / "frames.npy", mmap_mode="r")  # what opening cost before checksums
            plain = time.perf_counter() - start
            print(f"open {attempt + 1}: with the check {checked:.2f} s ({size / 1e9 / checked:.2f} GB/s), "
                  f"memory map alone {plain * 1000:.1f} ms")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
