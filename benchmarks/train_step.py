"""Training-step speed of ser_jax against the same networks in PyTorch (eager, torch.compile).

    python benchmarks/train_step.py                      # all models, full seed sizes, this machine
    python benchmarks/train_step.py --models=parallel_cnn --steps=5 --warmup=1
    python benchmarks/train_step.py --size=small         # a quick look (not for reporting)
    python benchmarks/train_step.py --dtype=bfloat16     # bf16 compute (GPU): JAX, and PyTorch autocast
    python benchmarks/train_step.py --models=conv_gru --frameworks=jax --gru_unroll=5  # tune the GRU loop

Each (model, framework) runs in its own process, so peak host memory (RSS) is its own.
Per row: median step time over --steps steps after --warmup, samples/s, compile time
(JAX: lower + compile; torch.compile: first step), peak host RSS and peak device memory,
FLOPs per step from XLA's cost analysis, the FLOP/s that gives and its share of the
device's peak (--peak_tflops, or a known figure for the device), and the speed ratio of
ser_jax against each PyTorch mode. Then single-utterance inference latency (jitted; with
and without librosa feature extraction). Needs `pip install -e '.[bench]'` (torch).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Seeds' input sizes: 000 6 s × 128 log-mel (188 frames); 001 3 s × 128 mel at 10 ms hop
# (EmoDB's mean length, full-length sequences); 002 4 s × 257 log-STFT (400 frames), pairs.
SHAPES = {"full": {"parallel_cnn": (188, 128), "conv_gru": (300, 128), "pairwise": (400, 257)},
          "small": {"parallel_cnn": (63, 64), "conv_gru": (100, 64), "pairwise": (128, 64)}}
CHANNELS = {"full": 200, "small": 32}
# Dense peak FLOP/s by device kind and compute dtype (vendor figures, no sparsity).
PEAKS = {("NVIDIA H100 80GB HBM3", "float32"): 67e12, ("NVIDIA H100 80GB HBM3", "bfloat16"): 989e12,
         ("NVIDIA H200", "float32"): 67e12, ("NVIDIA H200", "bfloat16"): 989e12}
NUM_CLASSES = 7


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _median_step(run_step, steps: int, warmup: int, sync) -> float:
    for _ in range(warmup):
        sync(run_step())
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        sync(run_step())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _jax_step(model_name: str, size: str, batch: int, dtype: str, weight_grad: str, gru_unroll: int):
    """(train state, jitted train step, batch, key) of one model at the benchmark's shapes."""
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from ser_jax import steps as ser_steps
    from ser_jax.encoders.conv_gru import ConvGRU
    from ser_jax.encoders.parallel_cnn import ParallelCNN
    from ser_jax.encoders.satt import Satt
    from ser_jax.method import Method
    from ser_jax.signals.center import Center
    from ser_jax.signals.pairwise import Pairwise
    from ser_jax.signals.reconstruction import Reconstruction
    from ser_jax.signals.softmax import Softmax

    frames, bins = SHAPES[size][model_name]
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, frames, bins)).astype(np.float32)
    labels = (np.arange(batch) % NUM_CLASSES).astype(np.int32)
    mask = np.ones(batch, np.float32)
    jdtype = jnp.dtype(dtype)
    lengths = np.full(batch, frames, np.int32)
    if model_name == "parallel_cnn":
        method = Method(ParallelCNN(channels=CHANNELS[size], conv_weight_grad=weight_grad, dtype=jdtype),
                        (Softmax(), Center(weight=4.0), Reconstruction(weight=1.0)))
        tx = optax.adadelta(1.0)
        data = {"x": x, "label": labels, "mask": mask, "length": lengths}
    elif model_name == "conv_gru":
        method = Method(ConvGRU(conv_weight_grad=weight_grad, gru_unroll=gru_unroll, dtype=jdtype),
                        (Softmax(), Center(weight=0.3, rule="moving_mean")))
        tx = optax.adam(1e-3)
        data = {"x": x, "label": labels, "mask": mask, "length": lengths}
    else:  # the pairwise task: `batch` pairs, 2 × batch utterances
        method = Method(Satt(conv_weight_grad=weight_grad, dtype=jdtype), (Pairwise(),))
        tx = optax.adam(1e-4)
        x2 = rng.uniform(size=x.shape).astype(np.float32)
        data = {"x": np.concatenate([x, x2]), "length": np.concatenate([lengths, lengths]),
                "same": (np.arange(batch) % 3 == 0).astype(np.int32), "mask": mask}
    data = jax.device_put(data)
    key = jax.random.PRNGKey(0)
    state = ser_steps.create_train_state(method, NUM_CLASSES, tx, key, data)
    return state, jax.jit(functools.partial(ser_steps.train_step, method=method), donate_argnums=0), data, key


def run_jax(model_name: str, size: str, batch: int, steps: int, warmup: int, dtype: str, gru_unroll: int) -> dict:
    import jax

    state, step, data, key = _jax_step(model_name, size, batch, dtype, "auto", gru_unroll)
    start = time.perf_counter()
    compiled = step.lower(state, data, key).compile()
    compile_s = time.perf_counter() - start
    holder = {"state": state}

    def one():
        holder["state"], metrics = compiled(holder["state"], data, key)
        return metrics["loss/total"]

    seconds = _median_step(one, steps, warmup, lambda v: v.block_until_ready())
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    return {"framework": f"ser_jax ({dtype})", "step_s": seconds, "compile_s": compile_s,
            "device": device.device_kind, "peak_device_mb": stats.get("peak_bytes_in_use", 0) / 2 ** 20,
            "peak_rss_mb": _rss_mb()}


def run_flops(model_name: str, size: str, batch: int, dtype: str) -> dict:
    """FLOPs of one training step: XLA's cost analysis of the lowered step, run in a CPU
    process (XLA:GPU answers nothing for a lowered program, and its compiled count leaves
    out what it hands to cuDNN), so every machine prints the same count. The step is built
    with XLA's own conv weight gradients and a fully unrolled GRU: cost analysis counts a
    loop's body once, and the GEMM weight gradients and the recurrence are loops."""
    state, step, data, key = _jax_step(model_name, size, batch, dtype, "xla", gru_unroll=10 ** 6)
    cost = step.lower(state, data, key).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return {"flops": float(cost.get("flops", 0.0)) if cost else 0.0}


def run_torch(model_name: str, size: str, batch: int, steps: int, warmup: int, compiled: bool, dtype: str) -> dict:
    import torch

    from benchmarks import torch_twins

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    frames, bins = SHAPES[size][model_name]
    x = torch.rand(batch, frames, bins, device=dev)
    labels = (torch.arange(batch, device=dev) % NUM_CLASSES)
    if model_name == "parallel_cnn":
        model = torch_twins.ParallelCNN(frames, bins, NUM_CLASSES, channels=CHANNELS[size]).to(dev)
        optimizer, dim = torch.optim.Adadelta(model.parameters(), lr=1.0), 64
        args = (x, labels)
    elif model_name == "conv_gru":
        model = torch_twins.ConvGRU(bins, NUM_CLASSES).to(dev)
        optimizer, dim = torch.optim.Adam(model.parameters(), lr=1e-3), 128
        args = (x, labels)
    else:
        model = torch_twins.PairwiseModel(frames, bins).to(dev)
        optimizer, dim = torch.optim.Adam(model.parameters(), lr=1e-4), 256
        args = (x, torch.rand_like(x), (torch.arange(batch, device=dev) % 3 == 0).long())
    centers = torch.zeros(NUM_CLASSES, dim, device=dev)
    model.train()
    amp_dtype = torch.bfloat16 if dtype == "bfloat16" else None
    step = torch_twins.make_step(model_name, model, optimizer, centers, amp_dtype=amp_dtype)
    if compiled:
        step = torch.compile(step)
    sync = (lambda v: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda v: v.item())
    start = time.perf_counter()
    sync(step(*args))
    first_s = time.perf_counter() - start
    seconds = _median_step(lambda: step(*args), steps, warmup, sync)
    peak_dev = torch.cuda.max_memory_allocated() / 2 ** 20 if dev.type == "cuda" else 0.0
    name = ("PyTorch compile" if compiled else "PyTorch eager") + (" (bf16 amp)" if amp_dtype else "")
    return {"framework": name, "step_s": seconds,
            "compile_s": first_s if compiled else None, "peak_device_mb": peak_dev, "peak_rss_mb": _rss_mb(),
            "torch": torch.__version__}


def run_latency(size: str, dtype: str) -> dict:
    """Single-utterance S+A+C inference: jitted forward, and librosa features + forward."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ser_jax import features
    from ser_jax.encoders.parallel_cnn import ParallelCNN
    from ser_jax.method import Method
    from ser_jax.signals.softmax import Softmax

    params = features.PRESETS["tripathi_mel"]
    if size == "small":
        params = features.FeatureParams(**{**params.__dict__, "crop_seconds": 2.0, "n_mels": 64})
    frames, bins = features.num_frames(0, params), params.num_bins
    network = Method(ParallelCNN(channels=CHANNELS[size], dtype=jnp.dtype(dtype)), (Softmax(),)).network(NUM_CLASSES)
    one = jnp.ones((1,), jnp.int32) * frames
    variables = network.init(jax.random.PRNGKey(0), jnp.zeros((1, frames, bins)), one, train=False)
    forward = jax.jit(lambda v, x: jax.nn.softmax(network.apply(v, x, one, train=False)["logits"]))
    wav = np.random.default_rng(0).normal(scale=0.1, size=params.crop_samples).astype(np.float32)

    def model_only():
        return forward(variables, jnp.zeros((1, frames, bins)))

    def with_features():
        return forward(variables, jnp.asarray(features.extract(wav, params))[None])

    block = lambda v: v.block_until_ready()  # noqa: E731
    return {"forward_ms": 1e3 * _median_step(model_only, 50, 5, block),
            "features_and_forward_ms": 1e3 * _median_step(with_features, 20, 3, block)}


def _child(args) -> None:
    model_name, framework = args.child.split(":")
    if framework == "jax":
        out = run_jax(model_name, args.size, args.batch, args.steps, args.warmup, args.dtype, args.gru_unroll)
    elif framework == "flops":
        out = run_flops(model_name, args.size, args.batch, args.dtype)
    elif framework == "latency":
        out = run_latency(args.size, args.dtype)
    else:
        out = run_torch(model_name, args.size, args.batch, args.steps, args.warmup, framework == "compile", args.dtype)
    print("RESULT " + json.dumps(out))


def _spawn(args, what: str) -> dict:
    cmd = [sys.executable, __file__, f"--child={what}", f"--size={args.size}", f"--batch={args.batch}",
           f"--steps={args.steps}", f"--warmup={args.warmup}", f"--dtype={args.dtype}",
           f"--gru_unroll={args.gru_unroll}"]
    env = dict(os.environ, JAX_PLATFORMS="cpu") if what.endswith(":flops") else dict(os.environ)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="parallel_cnn,conv_gru,pairwise")
    parser.add_argument("--frameworks", default="jax,eager,compile")
    parser.add_argument("--size", choices=sorted(SHAPES), default="full")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--gru_unroll", type=int, default=0,
                        help="CNN + BiGRU: GRU steps per loop iteration (0: the backend's choice)")
    parser.add_argument("--peak_tflops", type=float, default=0.0, help="device peak for the share column")
    parser.add_argument("--json", default="", help="also write the rows here")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    rows = []
    print(f"batch {args.batch}, size {args.size}, median of {args.steps} steps after {args.warmup} warm-up; "
          f"{os.cpu_count()} CPUs visible")
    header = (f"{'model':13} {'framework':26} {'step ms':>9} {'samples/s':>10} {'compile s':>9} {'GFLOP':>8} "
              f"{'TFLOP/s':>8} {'% peak':>7} {'RSS MB':>8} {'dev MB':>8} {'jax ×':>6}")
    print(header)
    for model_name in args.models.split(","):
        results = {fw: _spawn(args, f"{model_name}:{fw}") for fw in args.frameworks.split(",")}
        jax_row = results.get("jax", {})
        flops = _spawn(args, f"{model_name}:flops").get("flops", 0.0)  # the same network in every framework
        for fw, r in results.items():
            if "error" in r:
                print(f"{model_name:13} {fw:26} error: {r['error']}")
                continue
            tflops = flops / r["step_s"] / 1e12 if flops else 0.0
            peak = args.peak_tflops * 1e12 or PEAKS.get((jax_row.get("device"), args.dtype), 0.0)
            ratio = r["step_s"] / jax_row["step_s"] if "step_s" in jax_row else float("nan")
            row = dict(r, model=model_name, samples_per_s=args.batch / r["step_s"], tflops=tflops,
                       peak_share=tflops * 1e12 / peak if peak else None, jax_speedup=ratio)
            rows.append(row)
            compile_s = "" if r.get("compile_s") is None else f"{r['compile_s']:.1f}"
            share = "" if row["peak_share"] is None else f"{100 * row['peak_share']:.1f}"
            print(f"{model_name:13} {r['framework']:26} {1e3 * r['step_s']:9.1f} {row['samples_per_s']:10.1f} "
                  f"{compile_s:>9} {flops / 1e9:8.1f} {tflops:8.3f} {share:>7} {r['peak_rss_mb']:8.0f} "
                  f"{r['peak_device_mb']:8.0f} {ratio:6.2f}")
    latency = _spawn(args, "parallel_cnn:latency")
    if "error" in latency:
        print(f"inference latency: error: {latency['error']}")
    else:
        print(f"single-utterance S+A+C inference: forward {latency['forward_ms']:.2f} ms, "
              f"librosa features + forward {latency['features_and_forward_ms']:.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "latency": latency}, indent=2))


if __name__ == "__main__":
    main()
