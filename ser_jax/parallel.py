"""Data parallelism on jax.sharding: a 1-D device mesh, batches split over it, state replicated.

Nothing here changes what a step computes. The jitted step sees global arrays: XLA's
SPMD partitioner splits the batch over the mesh and inserts the all-reduces, so BatchNorm
statistics, the center update and the gradients are those of the global batch, exactly
as on one device (up to float summation order). With one device every call is a no-op
placement. Several machines: call `jax.distributed.initialize()` before anything else
(see the README); `jax.devices()` then lists every host's devices and the same code runs.
"""

from __future__ import annotations

import collections
from typing import Iterable, Iterator

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ser_jax.errors import SerJaxError

AXIS = "data"


def data_mesh(num_devices: int = 0) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (0: all of them)."""
    devices = jax.devices()
    if num_devices:
        if num_devices > len(devices):
            raise SerJaxError(f"--config.train.num_devices={num_devices} but only {len(devices)} "
                              f"{devices[0].platform} device(s) are visible")
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), (AXIS,))


def check_batch_size(batch_size: int, mesh: Mesh, what: str = "--config.train.batch_size") -> None:
    n = mesh.devices.size
    if batch_size % n:
        raise SerJaxError(f"{what}={batch_size} does not split over {n} devices: use a multiple of {n}")


def shard_batch(batch: dict, mesh: Mesh) -> dict:
    """Places each batch array split along its first (batch) axis over the mesh."""
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    return {k: jax.device_put(v, sharding) for k, v in batch.items()}


def replicate(tree, mesh: Mesh):
    """Places every array of `tree` (state, variables) whole on each device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def prefetch(batches: Iterable[dict], mesh: Mesh, size: int = 2) -> Iterator[dict]:
    """Yields sharded batches, keeping `size` transfers in flight ahead of the consumer, so
    host → device copies overlap the running step."""
    queue = collections.deque()
    iterator = iter(batches)
    for batch in iterator:
        queue.append(shard_batch(batch, mesh))
        if len(queue) > size:
            yield queue.popleft()
    while queue:
        yield queue.popleft()
