"""Run by test_parallel.py in a process with 8 forced CPU devices: one training step on a
1-device mesh and on an 8-device mesh, printed as JSON of the largest differences."""

import functools
import json

import jax
import numpy as np
import optax

from ser_jax import parallel, steps
from ser_jax.encoders.parallel_cnn import ParallelCNN
from ser_jax.method import Method
from ser_jax.signals.center import Center
from ser_jax.signals.reconstruction import Reconstruction
from ser_jax.signals.softmax import Softmax


def main():
    assert len(jax.devices()) == 8, jax.devices()
    rng = np.random.default_rng(0)
    labels = np.asarray([3, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], np.int32)  # class 3: shard 0 only
    x = rng.uniform(size=(16, 24, 16)).astype(np.float32)
    batch = {"x": x, "label": labels, "length": np.full(16, 24, np.int32), "mask": np.ones(16, np.float32)}
    method = Method(ParallelCNN(channels=4, embed_dim=8),
                    (Softmax(), Center(weight=0.5, alpha=0.5), Reconstruction(weight=1.0, hidden=8, decoder_dims=(16,))))
    tx = optax.sgd(0.1)  # Adam would amplify float noise in near-zero gradients to ±lr
    key = jax.random.PRNGKey(0)
    results = {}
    for n in (1, 8):
        mesh = parallel.data_mesh(n)
        state = steps.create_train_state(method, 4, tx, key, batch)
        centers = jax.numpy.asarray(rng.normal(size=(4, 8)).astype(np.float32)) if n == 1 else results[1]["centers0"]
        state = state.replace(signals={"center": {"centers": centers}})
        state = parallel.replicate(state, mesh)
        sharded = parallel.shard_batch(batch, mesh)
        assert len(sharded["x"].sharding.device_set) == n
        step = jax.jit(functools.partial(steps.train_step, method=method), donate_argnums=0)
        centers0 = np.asarray(state.signals["center"]["centers"])
        for _ in range(2):  # two steps: the second sees updated BatchNorm statistics and centers
            state, metrics = step(state, sharded, key)
        results[n] = {"centers0": centers0, "state": jax.device_get(state), "loss": float(metrics["loss/total"])}
    one, eight = results[1]["state"], results[8]["state"]
    diff = lambda a, b: max(float(np.max(np.abs(np.asarray(u) - np.asarray(v))))  # noqa: E731
                            for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
    moved = np.abs(np.asarray(one.signals["center"]["centers"]) - results[1]["centers0"]).max(axis=1)
    print(json.dumps({"params": diff(one.params, eight.params), "batch_stats": diff(one.batch_stats, eight.batch_stats),
                      "centers": diff(one.signals, eight.signals), "loss": abs(results[1]["loss"] - results[8]["loss"]),
                      "class3_center_moved": float(moved[3]), "param_scale": diff(one.params, jax.tree_util.tree_map(
                          np.zeros_like, one.params))}))


if __name__ == "__main__":
    main()
