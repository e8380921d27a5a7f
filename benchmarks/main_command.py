"""Wall-clock time and peak memory of the README's main command, end to end.

Runs `python run.py --config configs/sac.py --workdir WORKDIR` (every fold, the default
strong recipe) as a child process, from a fresh cache unless --cache is given, and prints
the wall time and the child's peak resident memory (the largest of the processes it waited
for). --cores pins it to CPU cores (e.g. `0` for one core of two).

    SER_JAX_DATA=../shared/data python benchmarks/main_command.py --workdir /tmp/sac_bench
    SER_JAX_DATA=../shared/data python benchmarks/main_command.py --workdir /tmp/sac_bench --cores 0 \
        -- --config.train.max_folds=1
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="run folder (must not hold a finished run)")
    parser.add_argument("--config", default="configs/sac.py")
    parser.add_argument("--cache", default="", help="SER_JAX_CACHE to use; default: a fresh temporary one")
    parser.add_argument("--cores", default="", help="taskset CPU list, e.g. 0 or 0,1; default: no pinning")
    parser.add_argument("overrides", nargs="*", help="extra run.py flags, after --")
    args = parser.parse_args()
    if (Path(args.workdir) / "results.json").exists():
        sys.exit(f"error: {args.workdir} already holds a finished run: timing it would time nothing")
    with tempfile.TemporaryDirectory() as fresh:
        env = {**os.environ, "SER_JAX_CACHE": args.cache or fresh}
        command = [sys.executable, "run.py", "--config", args.config, "--workdir", args.workdir, *args.overrides]
        if args.cores:
            command = ["taskset", "-c", args.cores, *command]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    print(f"command: {' '.join(command)}")
    print(f"cores: {args.cores or 'all'} of {os.cpu_count()}; cache: {'given' if args.cache else 'fresh'}")
    print(f"exit code {done.returncode}; wall {seconds / 60:.1f} min ({seconds:.0f} s); peak RSS {peak_mb:.0f} MB")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
