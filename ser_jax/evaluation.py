"""Evaluation of a fold's state on its splits: per-epoch selection and the final figures.

Classes are predicted the way the method says (`Method.predicts`): by its classifier head
(`logits`: each utterance's most probable class) or by an SVM on the
embeddings (`vectors`: fitted on train, C = 1 per epoch; on train + val with C chosen on
val at the end). Every utterance is evaluated; nothing is dropped.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from ser_jax import input_pipeline, metrics, parallel, steps, svm


@functools.lru_cache(maxsize=8)
def _jitted_eval(method, num_classes):
    return jax.jit(functools.partial(steps.eval_step, method=method, num_classes=num_classes))


def split_pass(ctx, state, split: str, source=None) -> dict:
    """One pass over a split (or over `source`): summed evaluation quantities (their confusion
    from the class probabilities), every embedding [N, D] and, where a head predicts, every
    utterance's class probabilities [N, C]. With evaluation windows (`InputShape.windows`) the
    utterances longer than the crop are evaluated at each window and their probabilities and
    embeddings averaged; the summed quantities (e.g. reconstruction error) are the first window's."""
    source = ctx.sources[split] if source is None else source
    done = _window_pass(ctx, state, source, 0)
    longer = np.flatnonzero([source.shape.windows_for(n) > 1 for n in source.store.lengths[source.records]])
    if len(longer):
        part = source.subset(longer)
        passes = [_window_pass(ctx, state, part, w) for w in range(1, source.shape.windows)]
        for key in ("embeddings", "probabilities"):
            if done[key] is not None:
                done[key][longer] = np.mean([done[key][longer]] + [p[key] for p in passes], axis=0)
    if done["probabilities"] is not None:
        done["sums"]["confusion"] = metrics.confusion_matrix(source.labels, done["probabilities"].argmax(axis=1),
                                                             ctx.num_classes)
    return {**done, "n": len(source)}


def _window_pass(ctx, state, source, window: int) -> dict:
    evaluate = _jitted_eval(ctx.method, ctx.num_classes)
    sums, embeddings, probabilities = {}, [], []
    for batch in input_pipeline.eval_batches(source, ctx.eval_batch_size, window):
        out = evaluate(state, parallel.shard_batch(batch, ctx.mesh))
        real = batch["mask"] > 0
        embeddings.append(np.asarray(out.pop("embedding"))[real])
        if "probabilities" in out:
            probabilities.append(np.asarray(out.pop("probabilities"))[real])
        out = jax.device_get(out)
        sums = out if not sums else {k: sums[k] + out[k] for k in sums}
    return {"sums": sums, "embeddings": np.concatenate(embeddings),
            "probabilities": np.concatenate(probabilities) if probabilities else None}


def _summary(ctx, done: dict, confusion=None) -> dict:
    confusion = done["sums"]["confusion"] if confusion is None else confusion
    summary = metrics.summarize(np.asarray(confusion), range(ctx.num_classes))
    if "recon_se" in done["sums"]:
        summary["recon_mse"] = float(done["sums"]["recon_se"]) / done["n"]
    return summary


def epoch_score(ctx, state) -> tuple[float, dict]:
    """(selection score, validation summary) after an epoch."""
    val = split_pass(ctx, state, "val")
    if ctx.method.predicts == "logits":
        summary = _summary(ctx, val)
    else:
        train = split_pass(ctx, state, "train")
        summary = svm.val_summary(train["embeddings"], ctx.sources["train"].labels, val["embeddings"],
                                  ctx.sources["val"].labels, c=1.0, num_classes=ctx.num_classes)
        if "recon_se" in val["sums"]:
            summary["recon_mse"] = float(val["sums"]["recon_se"]) / val["n"]
    return ctx.method.selection_score(summary), summary


@dataclasses.dataclass(frozen=True)
class Final:
    """The selected state's figures.

    Attributes:
      val, test: summaries (`metrics.summarize`, plus recon_mse where there is a decoder).
      embeddings: {split: [N, D]} of train, val and test.
      probabilities: {split: [N, C]} class probabilities of val and test where a head predicts
        (what a seed ensemble averages); {} where an SVM predicts.
      extra: the SVM's C and kernel where an SVM predicts; else {}.
      targets: {cross-corpus target: summary}.
    """

    val: dict
    test: dict
    embeddings: dict
    probabilities: dict
    extra: dict
    targets: dict


def final(ctx, state, svm_cs, svm_kernel: str = "rbf", targets: dict | None = None) -> Final:
    """The figures of the selected state; `targets` ({name: Source}, cross-corpus) are
    predicted like the test split."""
    done = {s: split_pass(ctx, state, s) for s in ("val", "test", "train")}
    other = {name: split_pass(ctx, state, "", source) for name, source in (targets or {}).items()}
    x = {s: done[s]["embeddings"] for s in done}
    if ctx.method.predicts == "logits":
        return Final(_summary(ctx, done["val"]), _summary(ctx, done["test"]), x,
                     {s: done[s]["probabilities"] for s in ("val", "test")}, {},
                     {name: _summary(ctx, o) for name, o in other.items()})
    y = {s: ctx.sources[s].labels for s in done}
    c, val_conf, test_conf, other_conf = svm.select_and_test(
        x, y, cs=tuple(svm_cs), num_classes=ctx.num_classes, kernel=svm_kernel,
        others={name: (o["embeddings"], targets[name].labels) for name, o in other.items()})
    return Final(_summary(ctx, done["val"], val_conf), _summary(ctx, done["test"], test_conf), x, {},
                 {"svm_c": c, "svm_kernel": svm_kernel},
                 {name: _summary(ctx, other[name], other_conf[name]) for name in other})
