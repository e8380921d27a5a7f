"""The BiGRU alone (ser_jax.gru.bidirectional): forward and forward + backward time by unroll.

    python benchmarks/gru.py                      # 001's shapes: batch 32, 75 steps, 2,048 inputs, 128 units
    python benchmarks/gru.py --unroll=1,5,25,75

The CNN + BiGRU training step (benchmarks/train_step.py) contains it; this isolates the
recurrence, to see what the loop's unroll and its backward pass cost on this machine.
Median of --repeats calls after 3 warm-up calls, jitted, float32.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.train_step import _median_step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unroll", default="1,25", help="steps per loop iteration, comma-separated (0: auto)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=75, help="sequence length")
    parser.add_argument("--inputs", type=int, default=2048)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import linen as nn

    from ser_jax import gru

    class BiGRU(nn.Module):
        unroll: int

        @nn.compact
        def __call__(self, seq, lengths):
            return gru.bidirectional(seq, lengths, args.units, unroll=self.unroll)

    seq = jnp.asarray(np.random.default_rng(0).normal(size=(args.batch, args.steps, args.inputs)), jnp.float32)
    lengths = jnp.full(args.batch, args.steps)
    print(f"{jax.devices()[0].device_kind}: batch {args.batch}, {args.steps} steps, {args.inputs} inputs, "
          f"{args.units} units per direction; median of {args.repeats}")
    print(f"{'unroll':>7} {'forward ms':>11} {'fwd+bwd ms':>11}")
    for unroll in (int(u) for u in args.unroll.split(",")):
        model = BiGRU(unroll)
        params = model.init(jax.random.key(0), seq, lengths)
        forward = jax.jit(lambda p, x, m=model: m.apply(p, x, lengths))
        grad = jax.jit(jax.grad(lambda p, x, m=model: sum(jnp.sum(s) for s in m.apply(p, x, lengths)),
                                argnums=(0, 1)))
        times = [1e3 * _median_step(lambda f=f: f(params, seq), args.repeats, 3, jax.block_until_ready)
                 for f in (forward, grad)]
        print(f"{gru.resolve_unroll(unroll, args.steps):>7} {times[0]:11.2f} {times[1]:11.2f}")


if __name__ == "__main__":
    main()
