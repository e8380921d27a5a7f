#!/usr/bin/env bash
# usage: runs.sh LAYOUT(before|after) SRC OUTDIR
# Runs configs/test.py and each method's config shrunk to a tiny size (1 fold, 2 epochs, few
# kernels) from the checkout SRC, pinned to core 0, into OUTDIR/<name>. LAYOUT names the
# config keys of the shrink: `before` for commits up to 2d17da3, `after` for the encoders ×
# signals layout. Paths: this machine's venv, data and a shared cache (edit to taste).
set -u
layout=$1; src=$2; out=$3
export SER_JAX_DATA=/work/shared/data SER_JAX_CACHE=/tmp/eqcache PYTHONPATH=$src
cd "$src"
py=/work/main/.venv/bin/python
pc="--config.features.crop_seconds=1.0 --config.features.n_mels=32 --config.model.parallel_cnn.channels=8 --config.train.epochs=2 --config.train.max_folds=1"
if [ "$layout" = before ]; then
  dec="--config.model.parallel_cnn.decoder_dims=(32,)"
  dai="--config.model.conv_gru.conv_channels=(4,8) --config.model.conv_gru.gru_units=16 --config.model.conv_gru.z_dim=16"
  pdt="--config.model.pairwise.conv_channels=(4,4,8,8,8) --config.model.pairwise.embed_dim=32 --config.train.pairs_per_epoch=256"
else
  dec="--config.signals.reconstruction.decoder_dims=(32,)"
  dai="--config.model.conv_gru.conv_channels=(4,8) --config.model.conv_gru.gru_units=16 --config.model.conv_gru.z_dim=16"
  pdt="--config.model.satt.conv_channels=(4,4,8,8,8) --config.model.satt.embed_dim=32 --config.signals.pairwise.pairs_per_epoch=256"
fi
common="--config.train.epochs=2 --config.train.max_folds=1 --config.features.n_mels=32"
run() { name=$1; shift; rm -rf "$out/$name"; echo "== $name: $*" >> "$out/commands.txt"; taskset -c 0 $py run.py "$@" --workdir "$out/$name" > "$out/$name.out" 2>&1; echo "$name rc=$?" >> "$out/commands.txt"; }
mkdir -p "$out"
run test --config configs/test.py
run s --config configs/s.py $pc
run sa --config configs/sa.py $pc $dec
run sc --config configs/sc.py $pc
run sac --config configs/sac.py $pc $dec
run dai --config configs/dai.py $common --config.train.max_frames=200 $dai
run pdt --config configs/pdt.py --config.train.epochs=2 --config.train.max_folds=1 --config.features.crop_seconds=1.0 $pdt
echo ALLDONE >> "$out/commands.txt"
