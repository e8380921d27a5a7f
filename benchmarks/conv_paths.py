"""One convolution's forward time under each XLA:CPU code path, float32 and bfloat16.

    python benchmarks/conv_paths.py                       # the CNN + BiGRU's second 3 × 3 layer, batch 32
    python benchmarks/conv_paths.py --shape=32,300,128,1,32   # B,H,W,C_in,C_out: its first layer

Each path is a set of XLA_FLAGS (XLA:CPU's default: YNNPACK for convolutions and dots; oneDNN;
oneDNN's custom-call rewriter; XNNPACK off; convolutions left out of YNNPACK's fusions, so XLA's own
convolution runs them) and runs in its own process, with the same huge-page
setting run.py gives training (glibc.malloc.hugetlb=1, where the caller did not set
GLIBC_TUNABLES). A row is the best of --repeats calls after one warm-up, for float32 operands,
bfloat16 operands with a float32 result, and bfloat16 with a bfloat16 result; GFLOP/s counts
2 · B · H' · W' · kh · kw · C_in · C_out. On a CPU with bf16 matrix units (AMX) a bf16
convolution that used them would run several times faster than float32 (compare
benchmarks/gemm.py's bfloat16 and float32 rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

PATHS = {
    "default": "",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn-custom-call": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
    "no-xnnpack": "--xla_cpu_use_xnnpack=false",
    "no-ynn-conv": "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
}


def _child(shape: tuple, kernel: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    from jax import lax

    b, h, w, cin, cout = shape
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (b, h + kernel - 1, w + kernel - 1, cin), jnp.float32)
    k = jax.random.normal(kw, (kernel, kernel, cin, cout), jnp.float32) * 0.1
    flop = 2 * b * h * w * kernel * kernel * cin * cout
    times = {}
    for name, dtype, out in (("float32", jnp.float32, jnp.float32), ("bf16, f32 result", jnp.bfloat16, jnp.float32),
                             ("bf16, bf16 result", jnp.bfloat16, jnp.bfloat16)):
        conv = jax.jit(lambda x, k, out=out: lax.conv_general_dilated(
            x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"), preferred_element_type=out))
        xd, kd = x.astype(dtype), k.astype(dtype)
        conv(xd, kd).block_until_ready()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            conv(xd, kd).block_until_ready()
            best = min(best, time.perf_counter() - start)
        times[name] = {"ms": 1e3 * best, "gflops": flop / best / 1e9}
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="32,150,64,32,64", help="B,H',W',C_in,C_out (output size)")
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paths", default=",".join(PATHS), help=f"of {sorted(PATHS)}")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    if len(shape) != 5:
        raise SystemExit(f"--shape={args.shape}: give B,H',W',C_in,C_out")
    if args.child:
        print(json.dumps(_child(shape, args.kernel, args.repeats)))
        return
    print(f"{args.kernel} × {args.kernel} convolution, output {shape[:3]} × {shape[4]}, input channels {shape[3]}; "
          f"best of {args.repeats}; {len(os.sched_getaffinity(0))} cores usable")
    print(f"{'path':20} {'float32':>18} {'bf16, f32 result':>18} {'bf16, bf16 result':>18}   (ms, GFLOP/s)")
    for path in args.paths.split(","):
        if path not in PATHS:
            raise SystemExit(f"--paths: {path!r} is not one of {sorted(PATHS)}")
        env = dict(os.environ, XLA_FLAGS=PATHS[path])
        env.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
        done = subprocess.run([sys.executable, __file__, "--child", f"--shape={args.shape}", f"--kernel={args.kernel}",
                               f"--repeats={args.repeats}"], env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"path {path} ({PATHS[path] or 'no flags'}) failed:\n{done.stderr[-2000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        cells = " ".join(f"{r['ms']:9.1f} {r['gflops']:8.1f}" for r in row.values())
        print(f"{path:20} {cells}")


if __name__ == "__main__":
    main()
