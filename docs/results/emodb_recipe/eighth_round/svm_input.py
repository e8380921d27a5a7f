"""Eighth round (validation speakers only): 002's SVM refitted on a run's kept embeddings with
other normalisations of its input vectors, scored on the tuning validation speakers 08-10.

    SER_JAX_DATA=... SER_JAX_CACHE=... PYTHONPATH=. python docs/results/emodb_recipe/eighth_round/svm_input.py \
        W/runs/pairwise_task_+_SVM_002

For each fold whose validation speaker is 08, 09 or 10, the best validation UA over C in
(0.1, 1, 10) of an SVM fitted on the training vectors, for: the vectors as the method uses them
(ser_jax.svm's SVM, standardised on the training vectors: it reproduces the stored val UA with rbf),
L2-normalised (the cosine geometry the pairwise loss trains), each speaker's vectors z-scored with
that speaker's own statistics (transductive), and both. Test vectors are not read.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

import run
from configs import pdt
from ser_jax import protocols, svm
from ser_jax.corpora.corpus import load_corpus

TUNING = ("08", "09", "10")
CS = (0.1, 1.0, 10.0)


def per_speaker_z(x, speakers):
    out = np.empty_like(x)
    for s in np.unique(speakers):
        rows = speakers == s
        out[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-8)
    return out


def l2(x):
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def best_val_ua(train_x, train_y, val_x, val_y, kernel, classes):
    return max(svm.val_summary(train_x, train_y, val_x, val_y, c=c, num_classes=classes, kernel=kernel)["ua"]
               for c in CS)


def main(variant_dir: Path) -> None:
    config = pdt.get_config()
    run.resolve_paths(config, os.environ)
    corpus = load_corpus(config.data, config.cache_dir)
    folds = protocols.make_folds(config.protocol, corpus)
    scores = {}
    for fold_dir in sorted(variant_dir.glob("seed_*/fold_*")):
        result = json.loads((fold_dir / "result.json").read_text())
        if result["fold"].split()[1].removeprefix("val=") not in TUNING:
            continue
        fold = folds[int(fold_dir.name.removeprefix("fold_"))]
        kept = np.load(fold_dir / "embeddings.npz")
        if not ((corpus.labels[fold.train] == kept["train_labels"]).all()
                and (corpus.labels[fold.val] == kept["val_labels"]).all()):
            sys.exit(f"{fold_dir}/embeddings.npz: rows are not in the fold's corpus order")
        spk_tr, spk_va = corpus.speakers[fold.train], corpus.speakers[fold.val]
        tr, va = kept["train"], kept["val"]
        inputs = {"as the method uses them": (tr, va), "L2": (l2(tr), l2(va)),
                  "per-speaker z": (per_speaker_z(tr, spk_tr), per_speaker_z(va, spk_va)),
                  "L2, then per-speaker z": (per_speaker_z(l2(tr), spk_tr), per_speaker_z(l2(va), spk_va))}
        for kernel in ("rbf", "linear"):
            for name, (a, b) in inputs.items():
                scores.setdefault((kernel, name), []).append(
                    best_val_ua(a, kept["train_labels"], b, kept["val_labels"], kernel, len(corpus.classes)))
        refitted = scores[("rbf", "as the method uses them")][-1]
        print(f"{fold_dir.parent.name}/{fold_dir.name} ({result['fold']}): "
              f"stored val UA {100 * result['val']['ua']:.1f}, refitted as used {100 * refitted:.1f}")
    for (kernel, name), values in scores.items():
        print(f"{kernel:6s} {name:26s} {len(values)} runs: mean val UA {100 * np.mean(values):.1f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
