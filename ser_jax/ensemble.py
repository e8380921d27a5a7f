"""Seed ensembles: the runs of one sweep variant that differ only in their seed, combined
fold by fold by averaging their class probabilities (each member still chosen on the fold's
validation speaker; the test speaker takes part in nothing but the final prediction).

One model's test UA on a 10-speaker corpus moves by several points with the seed; the
average of a few members removes much of that variance. The ensemble of a sweep's seeds
costs no training beyond the runs it already has: each finished fold keeps its val and test
probabilities (`probabilities.npz`). Runs finished before they were kept get them from their
saved models (`write_missing`, inference only).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import optax

from ser_jax import checkpointing, evaluation, feature_cache, features, input_pipeline, metrics, protocols, rundir
from ser_jax.corpora import load_corpus
from ser_jax.errors import SerJaxError


def fold_results(workdirs: list, classes) -> list[dict]:
    """Per fold, the figures of the members' averaged probabilities, like a run's fold results
    ({"fold", "val", "test"}).

    Raises:
      SerJaxError: the first member has no finished fold (e.g. only its results.json was
        kept), a member lacks a fold's probabilities, or two members' folds hold other
        utterances (their labels differ): the file and the fix are named.
    """
    first = Path(workdirs[0])
    finished = _finished(first)
    if not finished:
        raise SerJaxError(f"{first} holds no finished fold (fold_*/{rundir.RESULT}), only its summary: a seed ensemble "
                          "averages each fold's probabilities; restore the fold folders, or leave the ensemble rows "
                          "out with --config.ensemble=False")
    results = []
    for fold_dir in finished:
        members = []
        for workdir in workdirs:
            member = Path(workdir) / fold_dir.name
            stored = rundir.read_probabilities(member)
            if stored is None:
                raise SerJaxError(f"{member / rundir.PROBABILITIES} is missing: finish that run, or rerun the sweep, "
                                  "which recomputes it from the fold's saved model")
            members.append((member, stored))
        summary = {"fold": rundir.read_json(fold_dir / rundir.RESULT)["fold"]}
        for split in ("val", "test"):
            labels = members[0][1][f"{split}_labels"]
            for member, stored in members[1:]:
                if not np.array_equal(stored[f"{split}_labels"], labels):
                    raise SerJaxError(f"{member / rundir.PROBABILITIES}: its {split} utterances are not those of "
                                      f"{first / fold_dir.name}: a seed ensemble needs the same folds (same "
                                      "protocol and protocol.seed) in every member")
            mean = np.mean([stored[split] for _, stored in members], axis=0)
            confusion = metrics.confusion_matrix(labels, mean.argmax(axis=1), len(classes))
            summary[split] = metrics.summarize(confusion, range(len(classes)))
        results.append(summary)
    return results


def write_missing(config, workdir, *, out=print) -> int:
    """Writes `probabilities.npz` for every finished fold of the run in `workdir` that has a
    saved model but no probabilities (a run finished before they were kept), by evaluating that
    model on the fold's val and test splits, as training's final evaluation does. `config` is
    the run's config on this machine. Returns how many folds were written."""
    from ser_jax import method, steps, train  # train imports the modules this one serves

    missing = [d for d in _finished(workdir) if rundir.read_probabilities(d) is None]
    if not missing or method.from_config(config).predicts != "logits":
        return 0
    out(f"{workdir}: class probabilities of {len(missing)} finished folds, from their saved models")
    corpus = load_corpus(config.data, config.cache_dir)
    store = feature_cache.load_or_compute(corpus, features.FeatureParams.from_config(config.features),
                                          config.cache_dir, workers=config.feature_workers)
    folds = protocols.make_folds(config.protocol, corpus)
    speaker_stats = input_pipeline.corpus_speaker_statistics(config.train, corpus, store)
    for fold_dir in missing:
        k = int(fold_dir.name.split("_")[1])
        ctx = train._prepare(config, corpus, store, folds[k], speaker_stats)
        meta = rundir.read_json(fold_dir / rundir.MODEL_META)
        if meta["fold"] != folds[k].name:
            raise SerJaxError(f"{fold_dir / rundir.MODEL_META} is fold {meta['fold']!r}, but fold {k} of this "
                              f"config is {folds[k].name!r}: the run was made with other folds")
        stored = checkpointing.load_model(fold_dir / rundir.MODEL, meta.get("variables_sha256", ""))
        example = next(input_pipeline.eval_batches(ctx.sources["train"], ctx.eval_batch_size))
        state = steps.create_train_state(ctx.method, ctx.num_classes, optax.identity(), jax.random.PRNGKey(0),
                                         example)
        state = state.replace(params=stored["params"], batch_stats=stored.get("batch_stats", {}))
        done = {s: evaluation.split_pass(ctx, state, s) for s in ("val", "test")}
        kept = rundir.read_json(fold_dir / rundir.RESULT)["test"]["confusion"]
        if not np.array_equal(np.asarray(done["test"]["sums"]["confusion"]), np.asarray(kept)):
            raise SerJaxError(f"{fold_dir}: its saved model no longer gives the test confusion of "
                              f"{fold_dir / rundir.RESULT} (other features or code): retrain that run")
        rundir.write_probabilities(fold_dir, {s: done[s]["probabilities"] for s in done},
                                   {s: ctx.sources[s].labels for s in done})
    return len(missing)


def _finished(workdir) -> list[Path]:
    return sorted(d for d in Path(workdir).glob("fold_*") if (d / rundir.RESULT).is_file())
