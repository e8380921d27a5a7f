"""Feature-caching throughput on EmoDB: utterances per second, one process against all cores.

    SER_JAX_DATA=../shared/data python benchmarks/features.py
    SER_JAX_DATA=../shared/data python benchmarks/features.py --presets=tripathi_mel,lian_stft --repeats=3

Each measurement computes the whole corpus's feature cache into a fresh temporary folder
(reading the decoded corpus records from the regular cache, which is built first), and
reports the median over --repeats, plus the peak RSS of this process. One utterance per
preset is extracted first, untimed, so one-off costs do not count against the first preset.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from configs import base
    from ser_jax import feature_cache, features
    from ser_jax.corpora import load_corpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tripathi_mel,tripathi_mfcc,dai_mel,lian_stft")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = base.get_config()
    config.data.root = str(Path(os.environ.get("SER_JAX_DATA", "../shared/data")) / "emodb")
    config.cache_dir = os.environ.get("SER_JAX_CACHE") or str(Path.home() / ".cache" / "ser_jax")
    corpus = load_corpus(config.data, config.cache_dir)
    cores = os.cpu_count() or 1
    print(f"{corpus.name}: {corpus.num_records} utterances; {cores} CPU cores")
    print(f"{'preset':14} {'shape':>10} {'1 process utt/s':>16} {f'{cores} processes utt/s':>18}")
    for name in args.presets.split(","):
        params = features.PRESETS[name]
        features.extract(corpus.waveform(0), params)  # one-off costs (filterbank, first FFT plan) untimed
        rates = {}
        for workers in (1, cores):
            times = []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    start = time.perf_counter()
                    store = feature_cache.load_or_compute(corpus, params, tmp, workers=workers, progress=False)
                    times.append(time.perf_counter() - start)
                    frames = store.get(0).shape[0]
            rates[workers] = corpus.num_records / statistics.median(times)
        shape = f"{frames}×{store.num_bins}" if params.fixed_length else f"T×{store.num_bins}"
        print(f"{name:14} {shape:>10} {rates[1]:16.1f} {rates[cores]:18.1f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
