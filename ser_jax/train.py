"""train_and_evaluate: every fold of the protocol, model selection on validation, test once.

The only module with side effects during training: it jits the pure steps, writes
`config.json`, per-epoch JSON-lines logs, Orbax checkpoints, per-fold results and the
final `results.json` / `results.md`. Running the same command again resumes: finished
folds are read back, an unfinished one continues from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tensorboardX import SummaryWriter
from tqdm.auto import tqdm

from ser_jax import (checkpointing, feature_cache, features, input_pipeline, losses, metrics, models, parallel,
                     plots, protocols, report, steps, svm)
from ser_jax.corpora import load_corpus
from ser_jax.errors import SerJaxError


class NonFiniteLoss(SerJaxError):
    """A loss term became NaN or infinite; the message names the fold, step and term."""


def build_optimizer(optim, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optimizer and learning-rate schedule `config.optim` describes."""
    if optim.schedule == "constant":
        schedule = optax.constant_schedule(optim.learning_rate)
    elif optim.schedule == "cosine":
        schedule = optax.cosine_decay_schedule(optim.learning_rate, max(total_steps, 1))
    else:
        raise SerJaxError(f"unknown --config.optim.schedule {optim.schedule!r}: constant | cosine")
    makers = {"adadelta": optax.adadelta, "adam": optax.adam, "sgd": optax.sgd}
    if optim.name not in makers:
        raise SerJaxError(f"unknown --config.optim.name {optim.name!r}: {' | '.join(makers)}")
    tx = makers[optim.name](schedule)
    if optim.grad_clip:
        tx = optax.chain(optax.clip_by_global_norm(optim.grad_clip), tx)
    return tx, schedule


def loss_spec(config, train_labels: np.ndarray, num_classes: int) -> steps.LossSpec:
    """The LossSpec of `config.loss` (class weights from the training fold's labels)."""
    c = config.loss
    weights = tuple(losses.class_weights(train_labels, num_classes).tolist()) if c.class_weighted else ()
    return steps.LossSpec(task=config.train.task, uses_lengths=config.model.name == "conv_gru",
                          class_weights=weights, center_weight=c.center_weight,
                          center_norm=c.center_norm, center_rule=c.center_rule,
                          center_alpha=c.center_alpha, recon_weight=c.recon_weight,
                          softmax_weight=c.softmax_weight, cos_weight=c.cos_weight, margin=c.margin)


def train_and_evaluate(config, workdir, *, out=print) -> dict:
    """Runs (or resumes) every fold and writes results.json and results.md to `workdir`."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with _exclusive(workdir):
        return _train_and_evaluate(config, workdir, out)


@contextlib.contextmanager
def _exclusive(workdir: Path):
    """Holds WORKDIR/.lock for the run: a second process on the same folder stops at once
    instead of interleaving logs and checkpoints. The OS drops the lock when the process
    dies, so a killed run resumes without clean-up."""
    with (workdir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SerJaxError(f"another process is already training in {workdir}") from None
        yield


def _train_and_evaluate(config, workdir: Path, out) -> dict:
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
    corpus = load_corpus(config.data, config.cache_dir)
    store = feature_cache.load_or_compute(corpus, features.FeatureParams.from_config(config.features),
                                          config.cache_dir, workers=config.feature_workers)
    folds = protocols.make_folds(config.protocol, corpus)
    if config.train.max_folds:
        folds = folds[:config.train.max_folds]
    results = []
    for k, fold in enumerate(folds):
        done = workdir / f"fold_{k:02d}" / "result.json"
        if done.is_file():
            results.append(json.loads(done.read_text()))
            out(f"fold {k + 1}/{len(folds)} {fold.name}: finished earlier, read from {done}")
            continue
        result = _run_fold(config, corpus, store, fold, k, len(folds), workdir)
        _write_atomically(done, json.dumps(result, indent=2))
        results.append(result)
        out(f"fold {k + 1}/{len(folds)} {fold.name}: test WA {result['test']['wa']:.3f} "
            f"UA {result['test']['ua']:.3f} (best val UA {result['val']['ua']:.3f} at epoch {result['best_epoch']}; "
            f"{result['seconds']:.1f} s)")
    summary = report.aggregate(results, corpus.classes)
    _write_atomically(workdir / "results.json", json.dumps(summary, indent=2))
    figures = plots.run_figures(workdir, summary)
    _write_atomically(workdir / "results.md",
                      report.markdown(summary, f"{config.model.name} on {corpus.name}", figures))
    out(f"mean over {len(results)} folds: WA {summary['mean']['wa']:.3f} ± {summary['std']['wa']:.3f}, "
        f"UA {summary['mean']['ua']:.3f} ± {summary['std']['ua']:.3f}; pooled WA {summary['pooled']['wa']:.3f} "
        f"UA {summary['pooled']['ua']:.3f}; written: {workdir / 'results.md'}")
    return summary


@dataclasses.dataclass
class _Fold:
    """What one fold's training needs, built once."""

    sources: dict
    classes: tuple
    model: object
    spec: steps.LossSpec
    num_classes: int
    embed_dim: int
    pairwise: bool
    eval_batch_size: int
    mesh: object
    embed_fn: object  # jitted (variables, x) → encoder vectors (pairwise task)


def _run_fold(config, corpus, store, fold, k, num_folds, workdir) -> dict:
    start = time.perf_counter()
    fold_dir = workdir / f"fold_{k:02d}"
    ctx = _prepare(config, corpus, store, fold)
    tc = config.train
    batches = functools.partial(_epoch_batches, ctx, tc, config.seed + k)
    per_epoch = sum(1 for _ in _batch_starts(ctx, tc))
    if per_epoch == 0:
        raise SerJaxError(f"fold {fold.name}: fewer training examples than --config.train.batch_size={tc.batch_size}")
    tx, schedule = build_optimizer(config.optim, per_epoch * tc.epochs)
    init_key, step_key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.seed), k))
    state = steps.create_train_state(ctx.model, tx, init_key, next(iter(batches(0))), spec=ctx.spec,
                                     num_classes=ctx.num_classes, embed_dim=ctx.embed_dim)
    ckpts = checkpointing.FoldCheckpoints(fold_dir / "checkpoints")
    best = _host_best(state)
    progress = {"epoch": 0, "best_score": -np.inf, "best_epoch": 0}
    restored = ckpts.restore({"state": checkpointing.state_arrays(state), "best": best, "progress": progress})
    if restored is not None:
        state = state.replace(**restored["state"])
        best = restored["best"]
        progress = {key: value.item() for key, value in restored["progress"].items()}
    state = parallel.replicate(state, ctx.mesh)
    train_fn = jax.jit(functools.partial(steps.train_step, spec=ctx.spec), donate_argnums=0)
    bar = tqdm(total=tc.epochs, initial=progress["epoch"], desc=f"fold {k + 1}/{num_folds} {fold.name}",
               unit="epoch")
    board = SummaryWriter(str(fold_dir / "tensorboard"))
    saved_at = time.perf_counter()
    with (fold_dir / "log.jsonl").open("a") as log:
        for epoch in range(progress["epoch"], tc.epochs):
            history = []  # per-step metrics stay on device until the epoch ends
            for batch in parallel.prefetch(batches(epoch), ctx.mesh):
                state, step_metrics = train_fn(state, batch, step_key)
                history.append(step_metrics)
            record = _check_and_average(jax.device_get(history), fold.name, int(state.step) - len(history))
            score, val = _svm_val(ctx, state) if ctx.pairwise else _evaluate(ctx, state, "val")
            if score > progress["best_score"]:
                best, progress["best_score"], progress["best_epoch"] = _host_best(state), score, epoch + 1
            progress["epoch"] = epoch + 1
            record.update({"epoch": epoch + 1, "step": int(state.step), "lr": float(schedule(state.step)),
                           "val/ua": val["ua"], "val/wa": val["wa"]})
            if "recon_mse" in val:
                record["val/recon_mse"] = val["recon_mse"]
            log.write(json.dumps(record) + "\n")
            log.flush()
            for name, value in record.items():
                if name not in ("epoch", "step"):
                    board.add_scalar(name, value, record["step"])
            board.flush()
            if time.perf_counter() - saved_at >= tc.checkpoint_every_s:
                ckpts.save(epoch + 1, {"state": checkpointing.state_arrays(state), "best": best, "progress": progress})
                saved_at = time.perf_counter()
            bar.set_postfix(loss=f"{record['loss/total']:.3f}", val_ua=f"{val['ua']:.3f}")
            bar.update(1)
    bar.close()
    board.close()
    ckpts.close()
    best_state = state.replace(**parallel.replicate(best, ctx.mesh))
    result = _final_evaluation(ctx, best_state, fold, progress, fold_dir, config)
    # Wall-clock of this process's share of the fold (a resumed fold counts only its rest).
    return {**result, "seconds": time.perf_counter() - start}


def _prepare(config, corpus, store, fold) -> _Fold:
    tc = config.train
    scaler = input_pipeline.fit_scaler(tc.input_scaling, store, corpus.record_index[fold.train])
    sources = {name: input_pipeline.Source(store, corpus.record_index[idx], corpus.labels[idx], scaler,
                                           tc.bucket_frames, tc.max_frames)
               for name, idx in (("train", fold.train), ("val", fold.val), ("test", fold.test))}
    num_classes = len(corpus.classes)
    pairwise = tc.task == "pairwise"
    if pairwise and (config.model.name != "pairwise" or not store.params.fixed_length):
        raise SerJaxError("--config.train.task=pairwise needs --config.model.name=pairwise and "
                          "fixed-length features (--config.features.crop_seconds > 0)")
    model, embed_dim = models.for_run(config, num_classes)
    spec = loss_spec(config, sources["train"].labels, num_classes)
    mesh = parallel.data_mesh(tc.num_devices)
    parallel.check_batch_size(tc.batch_size, mesh)
    parallel.check_batch_size(tc.eval_batch_size, mesh, "--config.train.eval_batch_size")
    embed_fn = jax.jit(lambda v, x: model.apply(v, x, train=False, method=models.PairwiseModel.embed))
    return _Fold(sources, tuple(corpus.classes), model, spec, num_classes, embed_dim, pairwise,
                 tc.eval_batch_size, mesh, embed_fn)


def _batch_starts(ctx, tc):
    n = _pairs_per_epoch(ctx, tc) if ctx.pairwise else len(ctx.sources["train"])
    return range(0, n - tc.batch_size + 1, tc.batch_size)


def _pairs_per_epoch(ctx, tc) -> int:
    return tc.pairs_per_epoch or 3 * len(ctx.sources["train"])


def _epoch_batches(ctx, tc, seed, epoch):
    if ctx.pairwise:
        return input_pipeline.pair_batches(ctx.sources["train"], tc.batch_size, _pairs_per_epoch(ctx, tc),
                                           same_fraction=tc.same_fraction, seed=seed, epoch=epoch)
    return input_pipeline.train_batches(ctx.sources["train"], tc.batch_size, seed=seed, epoch=epoch)


def _check_and_average(history: list, fold_name: str, first_step: int) -> dict:
    """Mean of each term over the epoch; stops at the first non-finite value, naming it."""
    for i, step_metrics in enumerate(history):
        # loss terms first: a diverging loss is the cause, a NaN gradient norm its symptom
        for term, value in sorted(step_metrics.items(), key=lambda kv: not kv[0].startswith("loss/")):
            if not np.isfinite(value):
                raise NonFiniteLoss(f"fold {fold_name}: {term} became {float(value)} at step {first_step + i}; "
                                    "lower --config.optim.learning_rate or a loss weight")
    return {term: float(np.mean([m[term] for m in history])) for term in history[0]}


def _host_best(state) -> dict:
    return {"params": jax.device_get(state.params), "batch_stats": jax.device_get(state.batch_stats),
            "centers": np.asarray(jax.device_get(state.centers))}


def _evaluate(ctx, state, split: str, *, with_embeddings: bool = False):
    """(selection score, summary[, embeddings [N, D]]) of one split (classify task).

    The score is UA, or minus the reconstruction MSE for the "A only" model (softmax weight
    0), whose classifier is untrained. With a decoder the summary holds `recon_mse`.
    """
    source = ctx.sources[split]
    confusion = jnp.zeros((ctx.num_classes, ctx.num_classes), jnp.int32)
    recon_se = jnp.zeros((), jnp.float32)
    embeddings = []
    for batch in input_pipeline.eval_batches(source, ctx.eval_batch_size):
        out = _eval_fn(ctx)(state, parallel.shard_batch(batch, ctx.mesh))
        confusion = confusion + out["confusion"]
        if "recon_se" in out:
            recon_se = recon_se + out["recon_se"]
        if with_embeddings:
            embeddings.append(np.asarray(out["embedding"])[batch["mask"] > 0])
    summary = metrics.summarize(np.asarray(confusion), range(ctx.num_classes))
    if ctx.spec.recon_weight:
        summary["recon_mse"] = float(recon_se) / len(source)
    score = summary["ua"] if ctx.spec.softmax_weight else -summary.get("recon_mse", 0.0)
    if with_embeddings:
        return score, summary, np.concatenate(embeddings)
    return score, summary


@functools.lru_cache(maxsize=8)
def _jitted_eval(spec, num_classes):
    return jax.jit(functools.partial(steps.eval_step, spec=spec, num_classes=num_classes))


def _eval_fn(ctx):
    return _jitted_eval(ctx.spec, ctx.num_classes)


def _embed(ctx, state, split: str) -> np.ndarray:
    """Encoder vectors of every utterance of a split (pairwise task)."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    parts = [np.asarray(ctx.embed_fn(variables, parallel.shard_batch({"x": b["x"]}, ctx.mesh)["x"]))[b["mask"] > 0]
             for b in input_pipeline.eval_batches(ctx.sources[split], ctx.eval_batch_size)]
    return np.concatenate(parts)


def _svm_val(ctx, state):
    x = {s: _embed(ctx, state, s) for s in ("train", "val")}
    ua = svm.val_ua(x["train"], ctx.sources["train"].labels, x["val"], ctx.sources["val"].labels,
                    c=1.0, num_classes=ctx.num_classes)
    return ua, {"ua": ua, "wa": float("nan")}


def _final_evaluation(ctx, state, fold, progress, fold_dir, config) -> dict:
    """Val and test figures of the selected variables; saves them with what inference needs
    (`model/`, `model.json`) and every split's embeddings (`embeddings.npz`)."""
    names = range(ctx.num_classes)
    y = {s: ctx.sources[s].labels for s in ("train", "val", "test")}
    extra = {}
    if ctx.pairwise:
        x = {s: _embed(ctx, state, s) for s in y}
        c, val_conf, test_conf = svm.select_and_test(x, y, cs=tuple(config.train.svm_c),
                                                     num_classes=ctx.num_classes)
        val, test = metrics.summarize(val_conf, names), metrics.summarize(test_conf, names)
        extra["svm_c"] = c
    else:
        x = {}
        _, val, x["val"] = _evaluate(ctx, state, "val", with_embeddings=True)
        _, test, x["test"] = _evaluate(ctx, state, "test", with_embeddings=True)
        _, _, x["train"] = _evaluate(ctx, state, "train", with_embeddings=True)
    np.savez_compressed(fold_dir / "embeddings.npz", **{s: x[s] for s in y},
                        **{f"{s}_labels": y[s] for s in y})
    checkpointing.save_model(fold_dir / "model", {"params": state.params, "batch_stats": state.batch_stats,
                                                  "centers": state.centers})
    scaler = ctx.sources["train"].scaler
    _write_atomically(fold_dir / "model.json", json.dumps({
        "fold": fold.name, "classes": list(ctx.classes), "scaler": dataclasses.asdict(scaler), **extra}, indent=2))
    return {"fold": fold.name, "best_epoch": progress["best_epoch"], "val": val, "test": test, **extra}


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
