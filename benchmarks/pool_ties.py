"""How often the parallel CNN's `pooled` weight gradient differs from the two-step path's:
ties among the elements of a pooled quadrant, on real training batches.

    SER_JAX_DATA=../shared/data python benchmarks/pool_ties.py --batches=6

The two rules differ only where a quadrant's maximum is reached at several positions
(`pooled` gives the gradient to the first, the two-step path to each). For --batches
training batches of the first fold of configs/s.py (its features, scaling and crops), each
path's convolution with random kernels of the initialisation's scale: the count of quadrant
maxima, and of positions beyond one per quadrant that equal their quadrant's maximum.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import run  # noqa: E402
from configs import s  # noqa: E402
from ser_jax import conv, feature_cache, features, input_pipeline, layers, protocols  # noqa: E402
from ser_jax.corpora import load_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=6)
    args = parser.parse_args()
    config = s.get_config()
    run.resolve_paths(config, os.environ)  # data and cache from SER_JAX_DATA / SER_JAX_CACHE, as run.py
    corpus = load_corpus(config.data, config.cache_dir)
    store = feature_cache.load_or_compute(corpus, features.FeatureParams.from_config(config.features),
                                         config.cache_dir)
    fold = protocols.make_folds(config.protocol, corpus)[0]
    train = input_pipeline.fold_sources(config.train, corpus, store, fold)["train"]
    m = config.model.parallel_cnn
    maxima = extra = 0
    for b, batch in enumerate(input_pipeline.train_batches(train, config.train.batch_size, seed=0, epoch=0)):
        if b == args.batches:
            break
        x, lengths = jnp.asarray(batch["x"])[..., None], jnp.asarray(batch["length"])
        for i, (kt, kf) in enumerate(m.kernel_sizes):
            kernel = jax.random.normal(jax.random.PRNGKey(i), (kt, kf, 1, m.channels)) / np.sqrt(kt * kf)
            y = conv.conv2d(x, kernel, weight_grad="xla")
            valid = jnp.maximum(lengths - kt + 1, 1)
            # the two-step gradient of the pooled sum: 1 at every position equal to its quadrant's maximum
            hits = jax.grad(lambda v: jnp.sum(layers.valid_half_max_pool(v, valid)))(y)
            maxima += batch["x"].shape[0] * 4 * m.channels
            extra += int(hits.sum()) - batch["x"].shape[0] * 4 * m.channels
    print(f"{args.batches} training batches of fold 1: {maxima} quadrant maxima, "
          f"{extra} tied positions beyond one per quadrant ({100 * extra / maxima:.3f} %)")


if __name__ == "__main__":
    main()
