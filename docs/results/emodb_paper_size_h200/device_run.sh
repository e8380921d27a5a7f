#!/bin/bash
# A sweep on the device: (seed, variant) runs of one configs/sweeps/ file on one GPU, as many as fit in
# TRAIN_S seconds. Its first use (2026-12-04) was this folder's table: EmoDB leave-one-speaker-out with
# each method's paper settings at the paper's size (configs/<m>.py:paper, the "<method>, paper" variants
# of configs/sweeps/paper_vs_strong.py, the defaults below).
#
# Run on the device from the repo root, with .whl (wheels of the packages its image lacks: librosa,
# tensorflow-datasets, ml_collections, tensorboardX and their needs) and .devdata/flac (EmoDB packed by
# pack_audio.py) carried:
#     bash docs/results/emodb_paper_size_h200/device_run.sh TRAIN_S PARALLEL [SEEDS [SWEEP VARIANT...]]
# PARALLEL sweep processes share the GPU, one (seed, variant) each, in the order given, the first of
# SEEDS (default "0 1 2") for every variant first; each later seed waits STAGGER_S seconds (env, default
# 0) after the previous seed's first start, so its runs find the earlier ones' compiled programs in the
# shared XLA cache. A run still going at the deadline is stopped and left out: no partial seed is
# reported, and its checkpoint stays on that machine. What finished comes back as $OUT/runs.tar.gz.part00,
# part01, ... (15 MiB pieces: the device returns files of up to 16 MiB; `cat runs.tar.gz.part* | tar xz`)
# without checkpoints, saved models or TensorBoard event files (log.jsonl holds the same figures). The
# table is made where the CPU runs are.
set -u
TRAIN_S=${1:-420}; PARALLEL=${2:-3}; SEEDS=${3:-0 1 2}; SWEEP=${4:-configs/sweeps/paper_vs_strong.py}
STAGGER_S=${STAGGER_S:-0}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
HERE=docs/results/emodb_paper_size_h200
VARIANTS=("S+A+C, paper" "pairwise task + SVM (002), paper" "S, paper" "S+C, paper" "S+A, paper")
[ $# -gt 4 ] && VARIANTS=("${@:5}")
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
export SER_JAX_DATA=/tmp/data SER_JAX_CACHE=/tmp/cache
python3 $HERE/pack_audio.py unpack .devdata/flac /tmp/data/emodb/wav || exit 1
python3 -c "import pkgutil, importlib, ser_jax, run; [importlib.import_module(m.name) for m in pkgutil.walk_packages(ser_jax.__path__, 'ser_jax.')]" || exit 1
{ nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv; echo "cpus $(nproc)"
  python3 -c "import jax, flax, optax, numpy, librosa, sklearn; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, 'librosa', librosa.__version__, 'sklearn', sklearn.__version__)"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
W=/tmp/w; mkdir -p $W/logs
START=$(date +%s); DEADLINE=$(( START + TRAIN_S ))
run_one() {  # SEED VARIANT
  local left=$(( DEADLINE - $(date +%s) ))
  if [ $left -lt 30 ]; then echo "not started (no time left): seed $1, $2"; return; fi
  timeout $left python3 run.py --config "$SWEEP" --workdir $W --mode=sweep \
    --config.seeds="($1,)" --config.only="(\"$2\",)" > "$W/logs/seed$1 $2.log" 2>&1
  echo "rc $? at $(( $(date +%s) - START )) s: seed $1, $2 ($(grep -c '^fold .*test WA' "$W/logs/seed$1 $2.log") folds)"
}
SEED_START=0
for seed in $SEEDS; do
  if [ $SEED_START -gt 0 ]; then
    while [ $(( $(date +%s) - SEED_START )) -lt $STAGGER_S ]; do sleep 1; done
  fi
  SEED_START=$(date +%s)
  for v in "${VARIANTS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do sleep 1; done
    run_one $seed "$v" &
    sleep 2
  done
done
wait
(cd $W && find runs logs -type f ! -path "*/checkpoints/*" ! -path "*/model/*" ! -name "*tfevents*" | tar czf - -T - \
  | split -b 15M -d - "$OUT/runs.tar.gz.part")
ls -la "$OUT"
