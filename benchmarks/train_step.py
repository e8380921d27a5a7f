"""Training-step speed of ser_jax against the same networks in PyTorch (eager, torch.compile).

    python benchmarks/train_step.py                      # all models, the seeds' (paper) sizes
    python benchmarks/train_step.py --size=default       # the default configs' sizes (strong recipe)
    python benchmarks/train_step.py --models=parallel_cnn --rounds=3 --steps=5
    python benchmarks/train_step.py --size=small         # a quick look (not for reporting)
    python benchmarks/train_step.py --dtype=bfloat16 --frameworks=jax,eager  # bf16: JAX, PyTorch autocast
    python benchmarks/train_step.py --attainable=gemm.json  # "% of attainable" from benchmarks/gemm.py
    python benchmarks/train_step.py --models=conv_gru --frameworks=jax --gru_unroll=5  # tune the GRU loop

Each (model, framework) is a worker process of its own (so its peak host memory is its own),
built and compiled once. Then --rounds rounds: in each, every worker in turn (the order
rotated from round to round) times --steps steps after --warmup, while the others wait idle;
a round's ratio is PyTorch's median step over ser_jax's from that same round, so slow
and fast spells of a shared machine fall on both sides. Per row: the median over rounds of
the per-round median step time, samples/s, compile time (JAX: lower + compile;
torch.compile: first step), peak host RSS and device memory, FLOPs per step from XLA's cost
analysis, the FLOP/s that gives and its share of the device's peak (GPU: vendor figure or
--peak_tflops; CPU: the attainable GEMM rate of benchmarks/gemm.py, --attainable), and the
speed ratio of ser_jax against each PyTorch mode: median over rounds, with its min–max.
Workers run with glibc malloc's settings as run.py runs ser_jax (ser_jax/malloc.py: huge pages,
freed memory kept; --huge_pages=all: PyTorch too, the same environment for both; =jax: PyTorch
as it starts by default; --keep_freed_memory=off: huge pages alone). Then
single-utterance inference latency (jitted; with and without librosa feature extraction).
Needs `pip install -e '.[bench]'` (torch).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Input sizes. paper: the seeds' (000 6 s × 128 log-mel, 188 frames, 200 kernels per path;
# 001 3 s × 128 mel at 10 ms hop, EmoDB's mean length, full-length sequences; 002 4 s × 257
# log-STFT, 400 frames, pairs). default: the default configs' (strong recipe): the parallel CNN
# at 64 bands cut at 104 frames (75th percentile of EmoDB's training lengths) with 32 kernels
# per path, AdamW and a linear decoder at λ2 = 0.03; 001 and 002 keep the seeds' sizes.
SHAPES = {"paper": {"parallel_cnn": (188, 128), "conv_gru": (300, 128), "pairwise": (400, 257)},
          "default": {"parallel_cnn": (104, 64), "conv_gru": (300, 128), "pairwise": (400, 257)},
          "small": {"parallel_cnn": (63, 64), "conv_gru": (100, 64), "pairwise": (128, 64)}}
CHANNELS = {"paper": 200, "default": 32, "small": 32}
# Dense peak FLOP/s by device kind and compute dtype (vendor figures, no sparsity).
PEAKS = {("NVIDIA H100 80GB HBM3", "float32"): 67e12, ("NVIDIA H100 80GB HBM3", "bfloat16"): 989e12,
         ("NVIDIA H200", "float32"): 67e12, ("NVIDIA H200", "bfloat16"): 989e12}
NUM_CLASSES = 7
# S+A+C's decoder output and λ2: the default config's (linear, for standardised input) or the paper's
DECODER = {"default": ("linear", 0.03), "paper": ("sigmoid", 1.0), "small": ("sigmoid", 1.0)}


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


def _jax_step(model_name: str, size: str, batch: int, dtype: str, weight_grad: str, gru_unroll: int,
              conv_dtype: str = "auto"):
    """(train state, jitted train step, batch, key) of one model at the benchmark's shapes."""
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from ser_jax import conv
    from ser_jax import steps as ser_steps
    from ser_jax.encoders.conv_gru import ConvGRU
    from ser_jax.encoders.parallel_cnn import ParallelCNN
    from ser_jax.encoders.satt import Satt
    from ser_jax.method import Method
    from ser_jax.signals.center import Center
    from ser_jax.signals.pairwise import Pairwise
    from ser_jax.signals.softmax import Softmax

    frames, bins = SHAPES[size][model_name]
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, frames, bins)).astype(np.float32)
    labels = (np.arange(batch) % NUM_CLASSES).astype(np.int32)
    mask = np.ones(batch, np.float32)
    jdtype = jnp.dtype(dtype)
    cdtype = conv.resolve_dtype(conv_dtype, jdtype)  # as run.py resolves config.model.conv_dtype
    lengths = np.full(batch, frames, np.int32)
    if model_name == "parallel_cnn":
        method = Method(ParallelCNN(channels=CHANNELS[size], conv_weight_grad=weight_grad, dtype=jdtype,
                                    conv_dtype=cdtype),
                        (Softmax(), Center(weight=4.0), _reconstruction(size)))
        tx = optax.adamw(3e-3, weight_decay=0.01) if size == "default" else optax.adadelta(1.0)
        data = {"x": x, "label": labels, "mask": mask, "length": lengths}
    elif model_name == "conv_gru":
        method = Method(ConvGRU(conv_weight_grad=weight_grad, gru_unroll=gru_unroll, dtype=jdtype,
                                conv_dtype=cdtype),
                        (Softmax(), Center(weight=0.3, rule="moving_mean")))
        tx = optax.adam(1e-3)
        data = {"x": x, "label": labels, "mask": mask, "length": lengths}
    else:  # the pairwise task: `batch` pairs, 2 × batch utterances
        method = Method(Satt(conv_weight_grad=weight_grad, dtype=jdtype, conv_dtype=cdtype), (Pairwise(),))
        tx = optax.adam(1e-4)
        x2 = rng.uniform(size=x.shape).astype(np.float32)
        data = {"x": np.concatenate([x, x2]), "length": np.concatenate([lengths, lengths]),
                "same": (np.arange(batch) % 3 == 0).astype(np.int32), "mask": mask}
    data = jax.device_put(data)
    key = jax.random.PRNGKey(0)
    state = ser_steps.create_train_state(method, NUM_CLASSES, tx, key, data)
    return state, jax.jit(functools.partial(ser_steps.train_step, method=method), donate_argnums=0), data, key


def _reconstruction(size: str):
    """S+A+C's reconstruction signal at this size's decoder (DECODER)."""
    from ser_jax.signals.reconstruction import Reconstruction

    output, weight = DECODER[size]
    return Reconstruction(weight=weight, output=output)


def build_jax(model_name: str, size: str, batch: int, dtype: str, gru_unroll: int, conv_dtype: str = "auto"):
    """(one step, sync, facts): ser_jax's compiled train step, state carried between calls."""
    import jax

    state, step, data, key = _jax_step(model_name, size, batch, dtype, "auto", gru_unroll, conv_dtype)
    start = time.perf_counter()
    compiled = step.lower(state, data, key).compile()
    compile_s = time.perf_counter() - start
    holder = {"state": state}

    def one():
        holder["state"], metrics = compiled(holder["state"], data, key)
        return metrics["loss/total"]

    def facts():
        device = jax.devices()[0]
        stats = device.memory_stats() or {}
        return {"framework": f"ser_jax ({dtype})", "compile_s": compile_s, "device": device.device_kind,
                "peak_device_mb": stats.get("peak_bytes_in_use", 0) / 2 ** 20}

    return one, lambda v: v.block_until_ready(), facts


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


def build_torch(model_name: str, size: str, batch: int, compiled: bool, dtype: str):
    """(one step, sync, facts): the PyTorch twin's train step, eager or torch.compile'd."""
    import torch

    from benchmarks import torch_twins

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    frames, bins = SHAPES[size][model_name]
    x = torch.rand(batch, frames, bins, device=dev)
    labels = (torch.arange(batch, device=dev) % NUM_CLASSES)
    if model_name == "parallel_cnn":
        model = torch_twins.ParallelCNN(frames, bins, NUM_CLASSES, channels=CHANNELS[size],
                                        sigmoid_output=DECODER[size][0] == "sigmoid").to(dev)
        optimizer = (torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01) if size == "default"
                     else torch.optim.Adadelta(model.parameters(), lr=1.0))
        dim, args = 64, (x, labels)
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
    step = torch_twins.make_step(model_name, model, optimizer, centers, recon_weight=DECODER[size][1],
                                 amp_dtype=amp_dtype)
    if compiled:
        step = torch.compile(step)
    sync = (lambda v: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda v: v.item())
    start = time.perf_counter()
    sync(step(*args))
    first_s = time.perf_counter() - start
    name = ("PyTorch compile" if compiled else "PyTorch eager") + (" (bf16 amp)" if amp_dtype else "")

    def facts():
        peak_dev = torch.cuda.max_memory_allocated() / 2 ** 20 if dev.type == "cuda" else 0.0
        return {"framework": name, "compile_s": first_s if compiled else None, "peak_device_mb": peak_dev,
                "torch": torch.__version__}

    return lambda: step(*args), sync, facts


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
    if size != "paper":
        frames, bins = SHAPES[size]["parallel_cnn"]
        params = features.FeatureParams(**{**params.__dict__, "n_mels": bins,
                                           "crop_seconds": params.crop_seconds * frames / 188})
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


def _worker(args) -> None:
    """One (model, framework): build and compile, say READY, then time `--steps` steps (after
    `--warmup`) at each RUN line of stdin; at STOP, print the facts and peak RSS."""
    model_name, framework = args.child.split(":")
    if framework == "jax":
        one, sync, facts = build_jax(model_name, args.size, args.batch, args.dtype, args.gru_unroll,
                                     args.conv_dtype)
    else:
        one, sync, facts = build_torch(model_name, args.size, args.batch, framework == "compile", args.dtype)
    print("READY", flush=True)
    from ser_jax import malloc

    for line in sys.stdin:
        if line.strip() == "STOP":
            break
        with malloc.keeping_freed_memory():  # as train.py's epochs (does nothing without one arena)
            step = _median_step(one, args.steps, args.warmup, sync)
        print("TIME " + json.dumps(step), flush=True)
    print("RESULT " + json.dumps(dict(facts(), peak_rss_mb=_rss_mb())), flush=True)


def _child(args) -> None:
    """A one-shot child: FLOP count or inference latency."""
    model_name, what = args.child.split(":")
    out = run_flops(model_name, args.size, args.batch, args.dtype) if what == "flops" else run_latency(args.size, args.dtype)
    print("RESULT " + json.dumps(out))


def _command(args, what: str) -> list[str]:
    return [sys.executable, __file__, f"--child={what}", f"--size={args.size}", f"--batch={args.batch}",
            f"--steps={args.steps}", f"--warmup={args.warmup}", f"--dtype={args.dtype}",
            f"--gru_unroll={args.gru_unroll}", f"--conv_dtype={args.conv_dtype}"]


def _spawn(args, what: str) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu") if what.endswith(":flops") else dict(os.environ)
    done = subprocess.run(_command(args, what), capture_output=True, text=True, cwd=ROOT, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1][len("RESULT "):])


def _environment(args, framework: str) -> dict:
    """The worker's environment: with glibc malloc's settings (as run.py starts ser_jax) for ser_jax,
    and for PyTorch too with --huge_pages=all."""
    from ser_jax import malloc

    if args.huge_pages == "none" or (args.huge_pages == "jax" and framework != "jax"):
        return dict(os.environ)
    keep = args.keep_freed_memory == "on"
    return malloc.for_this_machine(dict(os.environ), keep_freed=keep) or dict(os.environ)


class Worker:
    """A running `_worker` process, driven line by line."""

    def __init__(self, args, what: str):
        self.errors = tempfile.TemporaryFile("w+")  # the worker's stderr: its last line names a failure
        self.proc = subprocess.Popen(_command(args, what), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errors, text=True, cwd=ROOT,
                                     env=_environment(args, what.split(":")[1]))
        self.error = None if self._read("READY") is not None else self._why()

    def _read(self, prefix: str):
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        return None

    def _why(self) -> str:
        self.proc.wait()
        self.errors.seek(0)
        return (self.errors.read().strip().splitlines() or [f"exit {self.proc.returncode}"])[-1]

    def time(self) -> float | None:
        if self.error:
            return None
        self.proc.stdin.write("RUN\n")
        self.proc.stdin.flush()
        out = self._read("TIME ")
        if out is None:
            self.error = self._why()
            return None
        return json.loads(out)

    def stop(self) -> dict:
        if self.error:
            return {"error": self.error}
        self.proc.stdin.write("STOP\n")
        self.proc.stdin.flush()
        out = self._read("RESULT ")
        self.proc.wait()
        return json.loads(out) if out else {"error": self._why()}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}–{max(values):.2f}]"


def measure_model(args, model_name: str) -> dict:
    """framework → facts + per-round step times, the frameworks timed in turn each round."""
    frameworks = args.frameworks.split(",")
    workers = {fw: Worker(args, f"{model_name}:{fw}") for fw in frameworks}  # built one after another
    times: dict = {fw: [] for fw in frameworks}
    for r in range(args.rounds):
        order = frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]
        for fw in order:
            seconds = workers[fw].time()
            if seconds is not None:
                times[fw].append(seconds)
    return {fw: dict(workers[fw].stop(), round_s=times[fw]) for fw in frameworks}


def _attainable(args) -> float:
    """FLOP/s that the share column divides by: --peak_tflops, else a vendor peak (GPU), else
    benchmarks/gemm.py's attainable figure for the dtype (--attainable JSON)."""
    if args.peak_tflops:
        return args.peak_tflops * 1e12
    if args.attainable:
        return json.loads(Path(args.attainable).read_text())["attainable_gflops"].get(args.dtype, 0.0) * 1e9
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="parallel_cnn,conv_gru,pairwise")
    parser.add_argument("--frameworks", default="jax,eager,compile")
    parser.add_argument("--size", choices=sorted(SHAPES), default="paper")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; ratios are per round")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round (their median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps at the start of each round")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--conv_dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                        help="ser_jax's conv stack dtype (config.model.conv_dtype; auto: float32 on CPU)")
    parser.add_argument("--gru_unroll", type=int, default=0,
                        help="CNN + BiGRU: GRU steps per loop iteration (0: the backend's choice)")
    parser.add_argument("--peak_tflops", type=float, default=0.0, help="device peak for the share column")
    parser.add_argument("--attainable", default="",
                        help="JSON written by benchmarks/gemm.py --json: its attainable rate is the CPU's 100 %%")
    parser.add_argument("--no_latency", action="store_true", help="skip the inference-latency line")
    parser.add_argument("--huge_pages", choices=["all", "jax", "none"], default="all",
                        help="run.py's glibc malloc settings (ser_jax/malloc.py: huge pages, and freed "
                             "memory kept if --keep_freed_memory=on): for every framework, ser_jax only, or none")
    parser.add_argument("--keep_freed_memory", choices=["on", "off"], default="on",
                        help="with --huge_pages: also keep freed memory for reuse while timing, as run.py's "
                             "training does (its default)")
    parser.add_argument("--json", default="", help="also write the rows here")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        (_child if args.child.split(":")[1] in ("flops", "latency") else _worker)(args)
        return
    rows = []
    print(f"batch {args.batch}, size {args.size}, {args.dtype}; {args.rounds} rounds of {args.steps} timed steps "
          f"(median) after {args.warmup} warm-up; {len(os.sched_getaffinity(0))} CPUs usable; "
          f"malloc settings (huge pages): {args.huge_pages}, keep freed memory: {args.keep_freed_memory}")
    header = (f"{'model':13} {'framework':26} {'step ms':>9} {'samples/s':>10} {'compile s':>9} {'GFLOP':>8} "
              f"{'TFLOP/s':>8} {'% peak':>7} {'RSS MB':>8} {'dev MB':>8} {'jax × (median [min–max])':>26}")
    print(header)
    for model_name in args.models.split(","):
        results = measure_model(args, model_name)
        jax_times = results.get("jax", {}).get("round_s", [])
        flops = _spawn(args, f"{model_name}:flops").get("flops", 0.0)  # the same network in every framework
        for fw, r in results.items():
            if "error" in r or not r["round_s"]:
                print(f"{model_name:13} {fw:26} error: {r.get('error', 'no step timed')}")
                continue
            step_s = statistics.median(r["round_s"])
            tflops = flops / step_s / 1e12 if flops else 0.0
            peak = _attainable(args) or PEAKS.get((results.get("jax", {}).get("device"), args.dtype), 0.0)
            ratios = [t / j for t, j in zip(r["round_s"], jax_times)]
            row = dict(r, model=model_name, step_s=step_s, samples_per_s=args.batch / step_s, tflops=tflops,
                       peak_share=tflops * 1e12 / peak if peak else None, flops=flops,
                       jax_speedup=statistics.median(ratios) if ratios else None,
                       jax_speedup_range=[min(ratios), max(ratios)] if ratios else None)
            rows.append(row)
            compile_s = "" if r.get("compile_s") is None else f"{r['compile_s']:.1f}"
            share = "" if row["peak_share"] is None else f"{100 * row['peak_share']:.1f}"
            ratio = _spread(ratios) if ratios else "–"
            print(f"{model_name:13} {r['framework']:26} {1e3 * step_s:9.1f} {row['samples_per_s']:10.1f} "
                  f"{compile_s:>9} {flops / 1e9:8.1f} {tflops:8.3f} {share:>7} {r['peak_rss_mb']:8.0f} "
                  f"{r['peak_device_mb']:8.0f} {ratio:>26}", flush=True)
    latency = {} if args.no_latency else _spawn(args, "parallel_cnn:latency")
    if "error" in latency:
        print(f"inference latency: error: {latency['error']}")
    elif latency:
        print(f"single-utterance S+A+C inference: forward {latency['forward_ms']:.2f} ms, "
              f"librosa features + forward {latency['features_and_forward_ms']:.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "latency": latency}, indent=2))


if __name__ == "__main__":
    main()
