"""This machine's attainable matrix-multiply FLOP/s, float32 and bfloat16: the practical peak
that docs/benchmarks.md's "% of attainable" column divides by on CPU.

    python benchmarks/gemm.py                    # JAX and (if installed) PyTorch, both dtypes
    python benchmarks/gemm.py --sizes=1024,2048 --frameworks=jax
    python benchmarks/gemm.py --frameworks=jax --dtypes=bfloat16,bfloat16_out   # does the result's dtype matter?

For each dtype, square GEMMs C = A·B of each size (bfloat16 inputs accumulate in float32, as
the models' bf16 layers do) run --repeats times after a warm-up; a row is the best
(minimum) time, as FLOP/s = 2·n³ / time. The attainable figure of a dtype is the largest
over sizes and frameworks: what this machine's best library reaches on a large, friendly
GEMM. A training step, with its small and odd-shaped products, sits below it. Also printed:
the nominal peak where the CPU's vector width and clock are known (--clock_ghz), for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `bfloat16_out`: bf16 operands and a bf16 result, what XLA gets from a bf16 layer that does not
# ask for a float32 result; on XLA:CPU it can take another code path than `bfloat16`. It is not
# an attainable figure of its own, only a row to compare.
BF16_OUT = "bfloat16_out"
OPERAND = {"float32": "float32", "bfloat16": "bfloat16", BF16_OUT: "bfloat16"}


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def time_jax(n: int, dtype: str, repeats: int) -> float:
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(0))
    a, b = (jax.random.normal(k, (n, n), jnp.float32).astype(OPERAND[dtype]) for k in keys)
    out = jnp.bfloat16 if dtype == BF16_OUT else jnp.float32
    product = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=out))
    return _best(lambda: product(a, b).block_until_ready(), repeats)


def time_torch(n: int, dtype: str, repeats: int) -> float:
    import torch

    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    if dtype == "bfloat16":  # as autocast runs a matmul: bf16 operands, float32 accumulation inside
        a, b = a.bfloat16(), b.bfloat16()
    return _best(lambda: torch.mm(a, b), repeats)


def measure(frameworks: list[str], sizes: list[int], dtypes: list[str], repeats: int) -> list[dict]:
    rows = []
    for dtype in dtypes:
        for framework in frameworks:
            timer = {"jax": time_jax, "torch": time_torch}[framework]
            if framework == "torch" and dtype == BF16_OUT:
                print(f"{BF16_OUT}: JAX only (torch.mm of bf16 operands returns bf16 either way)", file=sys.stderr)
                continue
            for n in sizes:
                seconds = timer(n, dtype, repeats)
                rows.append({"dtype": dtype, "framework": framework, "n": n, "seconds": seconds,
                             "gflops": 2 * n ** 3 / seconds / 1e9})
    return rows


def attainable(rows: list[dict]) -> dict:
    """dtype → the largest GFLOP/s of any row."""
    best: dict = {}
    for row in (r for r in rows if r["dtype"] != BF16_OUT):
        best[row["dtype"]] = max(best.get(row["dtype"], 0.0), row["gflops"])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,512,1024,2048")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--frameworks", default="jax,torch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock_ghz", type=float, default=0.0,
                        help="for the nominal-peak line: the cores' sustained clock")
    parser.add_argument("--json", default="", help="also write the rows and the attainable figures here")
    args = parser.parse_args()
    frameworks = args.frameworks.split(",")
    if "torch" in frameworks:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed (pip install -e '.[bench]'): JAX only", file=sys.stderr)
            frameworks.remove("torch")
    rows = measure(frameworks, [int(s) for s in args.sizes.split(",")], args.dtypes.split(","), args.repeats)
    cores = len(os.sched_getaffinity(0))
    print(f"square GEMMs, best of {args.repeats}; {cores} cores usable")
    print(f"{'dtype':12} {'framework':9} {'n':>6} {'ms':>10} {'GFLOP/s':>9}")
    for row in rows:
        print(f"{row['dtype']:12} {row['framework']:9} {row['n']:6d} {1e3 * row['seconds']:10.2f} {row['gflops']:9.1f}")
    best = attainable(rows)
    for dtype, gflops in best.items():
        print(f"attainable {dtype}: {gflops:.1f} GFLOP/s ({gflops / cores:.1f} per core)")
    if args.clock_ghz:
        # AVX-512 FMA: 16 float32 lanes × 2 FLOP × 2 pipes per cycle; VDPBF16PS doubles the products.
        nominal = {"float32": 64, "bfloat16": 128}
        for dtype, per_cycle in nominal.items():
            print(f"nominal {dtype} (AVX-512, 2 FMA pipes, {args.clock_ghz} GHz): "
                  f"{per_cycle * args.clock_ghz * cores:.0f} GFLOP/s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "attainable_gflops": best, "cores": cores}, indent=2))


if __name__ == "__main__":
    main()
