"""Where ser_jax's training step spends its time: per compiled op, from a JAX profiler trace.

    python benchmarks/profile_step.py --model=parallel_cnn --size=default
    python benchmarks/profile_step.py --model=pairwise --size=paper --dtype=bfloat16 --top=30
    XLA_FLAGS=--xla_cpu_use_onednn=true python benchmarks/profile_step.py   # another XLA:CPU path

Builds the step exactly as benchmarks/train_step.py does (same shapes, losses, optimizer),
runs --warmup steps, then traces --steps steps with `jax.profiler.trace` (its Perfetto JSON)
and prints each op's time per step, grouped by kind (the op name without its number) and
then the --top ops one by one, each with the HLO instruction it is (shape and the model
operation it came from, from the compiled module's text). Tracing adds a little time per op;
the printed total is the sum over ops, not the step's wall time.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import train_step  # noqa: E402

RUNTIME = ("ThunkExecutor", "$", "PjitFunction", "CommonPjRt", "ParseArguments")


def op_times(trace_dir: Path, steps: int) -> collections.Counter:
    """op name → microseconds per step, from the Perfetto trace under trace_dir."""
    trace_file = next(trace_dir.rglob("*.trace.json.gz"))
    events = json.loads(gzip.decompress(trace_file.read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total: collections.Counter = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and "dur" in event and not event["name"].startswith(RUNTIME):
            total[event["name"]] += event["dur"] / steps
    return total


def describe_ops(hlo_text: str) -> dict:
    """instruction name → 'shape  (model operation)' from the compiled module's text."""
    found = {}
    for match in re.finditer(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) .*?op_name=\"([^\"]*)\"", hlo_text, re.M):
        found[match.group(1)] = f"{match.group(2)}  ({match.group(3).replace('jit(train_step)/', '')})"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["parallel_cnn", "conv_gru", "pairwise"], default="parallel_cnn")
    parser.add_argument("--size", choices=sorted(train_step.SHAPES), default="default")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--weight_grad", choices=["auto", "xla", "gemm"], default="auto")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    import jax

    state, step, data, key = train_step._jax_step(args.model, args.size, args.batch, args.dtype,
                                                  args.weight_grad, 0)
    compiled = step.lower(state, data, key).compile()
    for _ in range(args.warmup):
        state, metrics = compiled(state, data, key)
    metrics["loss/total"].block_until_ready()
    with tempfile.TemporaryDirectory() as trace_dir:
        start = time.perf_counter()
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(args.steps):
                state, metrics = compiled(state, data, key)
                metrics["loss/total"].block_until_ready()
        wall = (time.perf_counter() - start) / args.steps
        per_op = op_times(Path(trace_dir), args.steps)
    ops = describe_ops(compiled.as_text())
    kinds: collections.Counter = collections.Counter()
    for name, us in per_op.items():
        kinds[re.sub(r"\.\d+$", "", name)] += us
    print(f"{args.model}, {args.size} size, {args.dtype}, batch {args.batch}: {1e3 * wall:.0f} ms per traced step; "
          f"ops sum to {sum(per_op.values()) / 1e3:.0f} ms over {len(per_op)} ops")
    print("by kind:")
    for kind, us in kinds.most_common(12):
        print(f"  {us / 1e3:9.1f} ms  {kind}")
    print(f"top {args.top} ops:")
    for name, us in per_op.most_common(args.top):
        print(f"  {us / 1e3:9.1f} ms  {name:28} {ops.get(name, '')[:140]}")


if __name__ == "__main__":
    main()
