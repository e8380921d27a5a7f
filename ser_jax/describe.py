"""`--mode=describe`: what a configuration will train on, before any training.

Prints the corpus (utterances per class and speaker, total duration, what was skipped
and why), the folds with their sizes, and the feature cache (built if needed).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

from ser_jax import cross_corpus, feature_cache, features, input_pipeline, method, protocols, rundir
from ser_jax.corpora import load_corpus

_EXAMPLES_PER_REASON = 5


def describe(config, *, workdir=None, out=print) -> dict:
    """Builds what `config` needs (corpus, folds, features) and reports it.

    Args:
      config: a full ser_jax config (paths already resolved).
      workdir: if given, `describe.json` and `skipped.json` are written there.
      out: where lines go.

    Returns:
      A JSON-able summary (the content of describe.json).
    """
    chosen = method.from_config(config)
    corpus = load_corpus(config.data, config.cache_dir)
    folds = protocols.make_folds(config.protocol, corpus)
    params = features.FeatureParams.from_config(config.features)
    store = feature_cache.load_or_compute(corpus, params, config.cache_dir,
                                          workers=config.feature_workers)
    summary = _summary(corpus, folds, store)
    frames = int(store.lengths.max()) if params.fixed_length else (
        input_pipeline.crop_frames_of(store.lengths[corpus.record_index], config.train.crop_percentile)
        if config.train.get("crop_percentile", 0) else 100)
    summary["model"] = {"method": chosen.describe(),
                        "parameters": chosen.count_params(len(corpus.classes), frames, store.num_bins)}
    model_line = (f"method {summary['model']['method']}: {summary['model']['parameters']:,} parameters "
                  f"for {frames} × {store.num_bins} inputs and {len(corpus.classes)} classes")
    summary["warnings"] = protocols.warnings(corpus, folds)
    for line in (_corpus_lines(corpus) + skip_lines(corpus) + _fold_lines(folds)
                 + [f"warning: {w}" for w in summary["warnings"]] + _feature_lines(store) + ["", model_line]):
        out(line)
    if config.get("eval", {}).get("corpora", ()):
        out("")
        targets = cross_corpus.load_targets(config, corpus.classes, out=out)  # builds and featurises them now
        summary["cross_corpus"] = {t.name: cross_corpus.describe(t) for t in targets}
    if workdir:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "describe.json").write_text(json.dumps(summary, indent=2))
        rundir.write_skipped(workdir, corpus.skipped)
        out(f"\nwritten: {workdir / 'describe.json'}, {workdir / rundir.SKIPPED}")
    return summary


def _summary(corpus, folds, store) -> dict:
    names = np.asarray(corpus.classes)[corpus.labels]
    return {
        "corpus": corpus.name,
        "utterances": len(corpus),
        "classes": list(corpus.classes),
        "per_class": {c: int(n) for c, n in collections.Counter(names.tolist()).items()},
        "per_speaker": {s: int(n) for s, n in sorted(collections.Counter(corpus.speakers.tolist()).items())},
        "hours": float(corpus.durations.sum() / 3600),
        "skipped": dict(collections.Counter(s["reason"] for s in corpus.skipped)),
        "adjusted": corpus.adjusted,
        "tfds_dir": corpus.data_dir,
        "folds": [{"name": f.name, "train": int(f.train.size), "val": int(f.val.size),
                   "test": int(f.test.size), "speaker_independent": f.speaker_independent}
                  for f in folds],
        "features": {"path": str(store.path), "computed_now": store.computed,
                     "bins": store.num_bins, "fixed_length": store.params.fixed_length,
                     "frames": [int(store.lengths.min()), int(store.lengths.max())]},
    }


def _corpus_lines(corpus) -> list[str]:
    speakers = sorted(set(corpus.speakers.tolist()))
    width = max(8, *(len(c) + 1 for c in corpus.classes))
    lines = [f"corpus {corpus.name}: {len(corpus)} utterances, {len(speakers)} speakers, "
             f"{corpus.durations.sum() / 60:.1f} min "
             f"(mean {corpus.durations.mean():.2f} s, max {corpus.durations.max():.2f} s), 16 kHz",
             f"records: {corpus.data_dir}", "",
             "speaker".ljust(10) + "".join(c.rjust(width) for c in corpus.classes) + "total".rjust(8)]
    for s in speakers + ["total"]:
        mask = np.ones(len(corpus), bool) if s == "total" else corpus.speakers == s
        counts = np.bincount(corpus.labels[mask], minlength=len(corpus.classes))
        lines.append(s.ljust(10) + "".join(str(n).rjust(width) for n in counts) + str(mask.sum()).rjust(8))
    for note, n in sorted(corpus.adjusted.items()):
        lines.append(f"converted: {note}: {n} files")
    return lines


def skip_lines(corpus) -> list[str]:
    if not corpus.skipped:
        return ["", "skipped: none"]
    by_reason = collections.defaultdict(list)
    for s in corpus.skipped:
        by_reason[s["reason"]].append(s)
    lines = ["", f"skipped: {len(corpus.skipped)} (each listed in skipped.json with --workdir)"]
    for reason, items in sorted(by_reason.items()):
        lines.append(f"  {reason}: {len(items)}")
        for s in items[:_EXAMPLES_PER_REASON]:
            lines.append(f"    {s['path']}: {s['detail']}")
        if len(items) > _EXAMPLES_PER_REASON:
            lines.append(f"    ... and {len(items) - _EXAMPLES_PER_REASON} more")
    return lines


def _fold_lines(folds) -> list[str]:
    independent = sum(f.speaker_independent for f in folds)
    state = ("speaker independent" if independent == len(folds) else "NOT speaker independent" if not independent
             else f"{independent} of {len(folds)} speaker independent")
    lines = ["", f"folds: {len(folds)} ({state})",
             "  " + "fold".ljust(34) + "train".rjust(7) + "val".rjust(7) + "test".rjust(7) + "  speaker independent"]
    for f in folds:
        lines.append("  " + f.name.ljust(34) + f"{f.train.size:7d}{f.val.size:7d}{f.test.size:7d}  "
                     + ("yes" if f.speaker_independent else "no (a test speaker also speaks in train or val)"))
    return lines


def _feature_lines(store) -> list[str]:
    p = store.params
    shape = (f"{int(store.lengths[0])} frames × {store.num_bins} bins" if p.fixed_length else
             f"{int(store.lengths.min())}–{int(store.lengths.max())} frames × {store.num_bins} bins")
    state = "computed now" if store.computed else "reused from cache"
    how = ("openSMILE eGeMAPSv02 functionals" if p.kind == "egemaps" else
           f"{p.kind}, n_fft {p.n_fft}, win {p.win_length}, hop {p.hop_length}, {p.window}")
    return ["", f"features {p.name} ({how}): {shape} per utterance, {state}", f"feature cache: {store.path}"]
