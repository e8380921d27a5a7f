"""Seed ensembles: the runs of one sweep variant that differ only in their seed, combined
fold by fold by averaging their class probabilities (each member still chosen on the fold's
validation speaker; the test speaker takes part in nothing but the final prediction).

One model's test UA on a 10-speaker corpus moves by several points with the seed; the
average of a few members removes much of that variance. The ensemble of a sweep's seeds
costs no training beyond the runs it already has: each finished fold keeps its val and test
probabilities (`probabilities.npz`). Runs finished before they were kept get them from their
saved models (`write_missing`, inference only).

Where an SVM predicts (the pairwise task), a fold's probabilities are those of the SVM of the
fold's chosen C with sigmoid-calibrated outputs (`svm.probabilities`), computed from the fold's
kept embeddings; a method that trains nothing (the eGeMAPS reference) gives the same model
with every seed and has no ensemble.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import optax

from ser_jax import checkpointing, evaluation, feature_cache, features, input_pipeline, metrics, protocols, rundir, svm
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
    model on the fold's val and test splits, as training's final evaluation does; where an SVM
    predicts, from the fold's kept embeddings (`svm.probabilities`). A method that trains
    nothing gets none. `config` is the run's config on this machine. Returns how many folds
    were written."""
    from ser_jax import method, steps, train  # train imports the modules this one serves

    missing = [d for d in _finished(workdir) if rundir.read_probabilities(d) is None]
    own = method.from_config(config)
    if not missing or not own.encoder.trainable:
        return 0
    if own.predicts != "logits":
        out(f"{workdir}: class probabilities of {len(missing)} finished folds, from their SVMs on the kept embeddings")
        for fold_dir in missing:
            _write_svm_probabilities(fold_dir)
        return len(missing)
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


def _write_svm_probabilities(fold_dir: Path) -> None:
    """probabilities.npz of a finished fold whose SVM predicts, from its embeddings.npz and the
    C and kernel in its result.json; refused if the SVM refitted on them does not give the
    fold's stored test confusion (the embeddings are not the run's)."""
    result = rundir.read_json(fold_dir / rundir.RESULT)
    kept = rundir.read_embeddings(fold_dir)
    if kept is None or "svm_c" not in result:
        raise SerJaxError(f"{fold_dir}: a seed ensemble of an SVM method needs the fold's {rundir.EMBEDDINGS} and "
                          f"the svm_c of its {rundir.RESULT}: restore them, or leave the ensemble rows out with "
                          "--config.ensemble=False")
    x = {s: kept[s] for s in rundir.SPLITS}
    y = {s: kept[f"{s}_labels"] for s in rundir.SPLITS}
    classes = len(result["test"]["confusion"])
    _, _, test_conf, _ = svm.select_and_test(x, y, cs=(result["svm_c"],), num_classes=classes,
                                             kernel=result["svm_kernel"])
    if not np.array_equal(test_conf, np.asarray(result["test"]["confusion"])):
        raise SerJaxError(f"{fold_dir / rundir.EMBEDDINGS}: the SVM refitted on these embeddings does not give the "
                          f"test confusion of {fold_dir / rundir.RESULT}: they are not this run's; retrain that run")
    probs = svm.probabilities(x, y, c=result["svm_c"], num_classes=classes, kernel=result["svm_kernel"])
    rundir.write_probabilities(fold_dir, probs, {s: y[s] for s in probs})


def _finished(workdir) -> list[Path]:
    return sorted(d for d in Path(workdir).glob("fold_*") if (d / rundir.RESULT).is_file())
