"""Host memory with a feature cache larger than a training job should hold in RAM.

    python benchmarks/memory.py --hours=100            # synthetic 100-hour tripathi_mel cache
    python benchmarks/memory.py --hours=1 --keep       # small look, keep the cache folder

Writes a synthetic memory-mapped feature cache of --hours of 6 s utterances (188 × 128
float32 per utterance, the layout `feature_cache` writes) to --dir, then runs what
training does with it: fit the training-fold scaling over every utterance and assemble one
epoch of shuffled training batches. Reports the cache size, the peak anonymous memory
(RssAnon: what cannot be paged back to the file) and the peak total RSS (which also counts
cache pages the kernel keeps mapped and may drop at any time), sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class PeakSampler:
    """Samples RssAnon and VmRSS in a thread; `peak()` gives the maxima in MB."""

    def __init__(self):
        self._peaks = {"RssAnon": 0, "VmRSS": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for field in self._peaks:
                self._peaks[field] = max(self._peaks[field], _status_kb(field))
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def peak(self) -> dict:
        return {k: v / 1024 for k, v in self._peaks.items()}


def main() -> None:
    from ser_jax import feature_cache, features, input_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=100.0)
    parser.add_argument("--dir", default="", help="where to write the synthetic cache (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic cache afterwards")
    args = parser.parse_args()
    params = features.PRESETS["tripathi_mel"]
    frames, bins = features.num_frames(0, params), params.num_bins
    n = int(args.hours * 3600 / params.crop_seconds)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="ser_jax_memory_"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "features.npy"
    start = time.perf_counter()
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, frames, bins))
    rng = np.random.default_rng(0)
    for i in range(0, n, 256):
        out[i:i + 256] = rng.normal(-40, 15, size=(min(256, n - i), frames, bins)).astype(np.float32)
    out.flush()
    del out
    size_gb = path.stat().st_size / 2 ** 30
    print(f"synthetic cache: {n} utterances × {frames} × {bins} float32 = {size_gb:.1f} GiB "
          f"({args.hours:g} h; written in {time.perf_counter() - start:.0f} s) at {folder}")
    with PeakSampler() as sampler:
        data = np.load(path, mmap_mode="r")
        store = feature_cache.FeatureStore(path=folder, params=params, lengths=np.full(n, frames, np.int64),
                                           data=data, offsets=None, computed=False)
        train = np.arange(n)
        t0 = time.perf_counter()
        scaler = input_pipeline.fit_scaler("minmax", store, train, np.full(n, frames))
        t1 = time.perf_counter()
        source = input_pipeline.Source(store, train, np.zeros(n, np.int64), scaler,
                                       input_pipeline.InputShape(params.fixed_length))
        batches = 0
        for _ in input_pipeline.train_batches(source, 32, seed=0, epoch=0):
            batches += 1
        t2 = time.perf_counter()
    peak = sampler.peak()
    print(f"fit scaling over every utterance: {t1 - t0:.0f} s; one epoch of {batches} training batches: "
          f"{t2 - t1:.0f} s")
    print(f"peak anonymous memory (RssAnon) {peak['RssAnon']:.0f} MB; peak total RSS (with mapped cache "
          f"pages) {peak['VmRSS']:.0f} MB; cache {1024 * size_gb:.0f} MB")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
