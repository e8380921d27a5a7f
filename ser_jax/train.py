"""train_and_evaluate: every fold of the protocol, model selection on validation, test once.

The only module with side effects during training: it jits the pure steps, writes
`config.json`, per-epoch JSON-lines logs, Orbax checkpoints, per-fold results and the
final `results.json` / `results.md`. Running the same command again resumes: finished
folds are read back, an unfinished one continues from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tensorboardX import SummaryWriter
from tqdm.auto import tqdm

from ser_jax import (checkpointing, cross_corpus, describe, evaluation, feature_cache, features, input_pipeline,
                     locking, malloc, method, parallel, plots, protocols, report, rundir, steps)
from ser_jax.corpora import load_corpus
from ser_jax.errors import SerJaxError


class NonFiniteLoss(SerJaxError):
    """A loss term became NaN or infinite; the message names the fold, step and term."""


def build_optimizer(optim, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optimizer and learning-rate schedule `config.optim` describes: a constant rate or a
    cosine decay to 0 over training, after a linear warm-up of `warmup_steps` from 0."""
    warmup = min(int(optim.get("warmup_steps", 0)), max(total_steps - 1, 0))
    if optim.schedule == "constant":
        schedule = optax.constant_schedule(optim.learning_rate)
        if warmup:
            schedule = optax.join_schedules([optax.linear_schedule(0.0, optim.learning_rate, warmup), schedule],
                                            [warmup])
    elif optim.schedule == "cosine":
        schedule = (optax.warmup_cosine_decay_schedule(0.0, optim.learning_rate, warmup, max(total_steps, 1))
                    if warmup else optax.cosine_decay_schedule(optim.learning_rate, max(total_steps, 1)))
    else:
        raise SerJaxError(f"unknown --config.optim.schedule {optim.schedule!r}: constant | cosine")
    decay = float(optim.get("weight_decay", 0.0))
    makers = {"adadelta": optax.adadelta, "adam": optax.adam, "sgd": optax.sgd,
              "adamw": lambda lr: optax.adamw(lr, weight_decay=decay)}
    if optim.name not in makers:
        raise SerJaxError(f"unknown --config.optim.name {optim.name!r}: {' | '.join(makers)}")
    if decay and optim.name != "adamw":
        raise SerJaxError(f"--config.optim.weight_decay={decay} needs --config.optim.name=adamw (decoupled decay)")
    tx = makers[optim.name](schedule)
    if optim.grad_clip:
        tx = optax.chain(optax.clip_by_global_norm(optim.grad_clip), tx)
    return tx, schedule


def train_and_evaluate(config, workdir, *, out=print) -> dict:
    """Runs (or resumes) every fold and writes results.json and results.md to `workdir`."""
    workdir = Path(workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SerJaxError(f"--workdir={workdir}: a file is in the way (it, or a folder above it, is a file): "
                          "choose another --workdir") from None
    with _exclusive(workdir):
        return _train_and_evaluate(config, workdir, out)


@contextlib.contextmanager
def _exclusive(workdir: Path):
    """Holds WORKDIR/.lock for the run: a second process on the same folder stops at once
    instead of interleaving logs and checkpoints. The OS drops the lock when the process
    dies, so a killed run resumes without clean-up."""
    try:
        with locking.exclusive(workdir / ".lock", wait=False):
            yield
    except locking.Busy:
        raise SerJaxError(f"another process is already training in {workdir}") from None


def _train_and_evaluate(config, workdir: Path, out) -> dict:
    method.check(config)
    rundir.check_same_settings(workdir, config)
    rundir.write_config(workdir, config)
    corpus = load_corpus(config.data, config.cache_dir)
    rundir.write_skipped(workdir, corpus.skipped)
    if corpus.skipped:
        for line in describe.skip_lines(corpus)[1:]:
            out(line)
    store = feature_cache.load_or_compute(corpus, features.FeatureParams.from_config(config.features),
                                          config.cache_dir, workers=config.feature_workers)
    folds = protocols.make_folds(config.protocol, corpus)
    if config.train.max_folds:
        folds = folds[:config.train.max_folds]
    fragile = protocols.warnings(corpus, folds)
    for line in fragile:
        out(f"warning: {line}")
    targets = cross_corpus.load_targets(config, corpus.classes, out=out)
    results, speaker_stats = [], None
    for k, fold in enumerate(folds):
        done = rundir.fold_dir(workdir, k) / rundir.RESULT
        if done.is_file():
            results.append(rundir.read_json(done))
            missing = [t.name for t in targets if t.name not in results[-1].get("cross_corpus", {})]
            if missing:
                raise SerJaxError(f"{done} was finished without cross-corpus target {missing[0]!r}: use a new "
                                  "--workdir for a run with other --config.eval.corpora")
            out(f"fold {k + 1}/{len(folds)} {fold.name}: finished earlier, read from {done}")
            continue
        if speaker_stats is None:  # once per run, not per fold
            speaker_stats = input_pipeline.corpus_speaker_statistics(config.train, corpus, store)
        result = _run_fold(config, corpus, store, fold, k, len(folds), workdir, speaker_stats, targets)
        rundir.write_json(done, result)
        results.append(result)
        out(f"fold {k + 1}/{len(folds)} {fold.name}: test WA {result['test']['wa']:.3f} "
            f"UA {result['test']['ua']:.3f} (best val UA {result['val']['ua']:.3f} at epoch {result['best_epoch']}; "
            f"{result['seconds']:.1f} s)")
    summary = report.aggregate(results, corpus.classes)
    if fragile:
        summary["warnings"] = fragile
    if targets:
        summary["cross_corpus"] = {t.name: {**cross_corpus.describe(t), **report.over_folds(
            [{"test": r["cross_corpus"][t.name]} for r in results], corpus.classes),
            "folds": [{"fold": r["fold"], **r["cross_corpus"][t.name]} for r in results]} for t in targets}
    title = f"{method.from_config(config).describe()} on {corpus.name} ({config.features.name} features)"
    if input_pipeline.normalization(config.train) == "speaker":
        title += f" — with {input_pipeline.SPEAKER_NORMALIZATION}"
        summary["normalization"] = "speaker (transductive: uses the test speaker's unlabelled audio)"
    rundir.write_json(workdir / rundir.RESULTS, summary)
    page = functools.partial(report.markdown, summary, title, input_scaling=config.train.input_scaling)
    rundir.write_text(workdir / rundir.RESULTS_MD, page())  # before any figure
    rundir.write_text(workdir / rundir.RESULTS_MD, page(plots.run_figures(workdir, summary)))
    out(f"mean over {len(results)} folds: WA {summary['mean']['wa']:.3f} ± {summary['std']['wa']:.3f}, "
        f"UA {summary['mean']['ua']:.3f} ± {summary['std']['ua']:.3f}; pooled WA {summary['pooled']['wa']:.3f} "
        f"UA {summary['pooled']['ua']:.3f}; written: {workdir / rundir.RESULTS_MD}")
    return summary


@dataclasses.dataclass
class _Fold:
    """What one fold's training needs, built once."""

    sources: dict
    classes: tuple
    method: method.Method
    num_classes: int
    eval_batch_size: int
    mesh: object


def _run_fold(config, corpus, store, fold, k, num_folds, workdir, speaker_stats, targets=()) -> dict:
    start = time.perf_counter()
    fold_dir = rundir.fold_dir(workdir, k)
    ctx = _prepare(config, corpus, store, fold, speaker_stats)
    tc = config.train
    train_source = ctx.sources["train"]
    batches = functools.partial(ctx.method.batches, train_source, tc.batch_size, seed=config.seed + k)
    per_epoch = ctx.method.batches_per_epoch(len(train_source), tc.batch_size)
    if per_epoch == 0:
        raise SerJaxError(f"fold {fold.name}: fewer training examples than --config.train.batch_size={tc.batch_size}")
    tx, schedule = build_optimizer(config.optim, per_epoch * tc.epochs)
    init_key, step_key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.seed), k))
    state = steps.create_train_state(ctx.method, ctx.num_classes, tx, init_key, next(iter(batches(epoch=0))),
                                     train_labels=train_source.labels)
    params = ctx.method.init_params(state.params, train_source)
    ema = jax.tree.map(lambda p: jnp.array(p, copy=True), params) if tc.ema_decay else {}  # own buffers: steps donate
    state = state.replace(params=params, opt_state=tx.init(params), ema=ema)
    ckpts = checkpointing.FoldCheckpoints(fold_dir / rundir.CHECKPOINTS)
    best = _host_best(state)
    progress = {"epoch": 0, "best_score": -np.inf, "best_epoch": 0}
    restored = ckpts.restore({"state": checkpointing.state_arrays(state), "best": best, "progress": progress})
    if restored is not None:
        state = state.replace(**restored["state"])
        best = restored["best"]
        progress = {key: value.item() for key, value in restored["progress"].items()}
    _truncate_log(fold_dir / rundir.LOG, progress["epoch"])
    state = parallel.replicate(state, ctx.mesh)
    train_fn = jax.jit(functools.partial(steps.train_step, method=ctx.method, ema_decay=tc.ema_decay),
                       donate_argnums=0)
    epochs = tc.epochs if ctx.method.signals else 0  # identity → SVM: nothing to train
    bar = tqdm(total=epochs, initial=progress["epoch"], desc=f"fold {k + 1}/{num_folds} {fold.name}",
               unit="epoch")
    board = SummaryWriter(str(fold_dir / rundir.TENSORBOARD))
    saved_at = time.perf_counter()
    # each step's buffers reused by the next, not zeroed again by the kernel (ser_jax/malloc.py)
    with malloc.keeping_freed_memory(), (fold_dir / rundir.LOG).open("a") as log:
        for epoch in range(progress["epoch"], epochs):
            history = []  # per-step metrics stay on device until the epoch ends
            for batch in parallel.prefetch(batches(epoch=epoch), ctx.mesh):
                state, step_metrics = train_fn(state, batch, step_key)
                history.append(step_metrics)
            record = _check_and_average(jax.device_get(history), fold.name, int(state.step) - len(history))
            selected = steps.averaged(state)  # the moving average where weight averaging is on
            score, val = evaluation.epoch_score(ctx, selected)
            if score > progress["best_score"]:
                best, progress["best_score"], progress["best_epoch"] = _host_best(selected), score, epoch + 1
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
    result = _final_evaluation(ctx, best_state, fold, progress, fold_dir, config, targets)
    # Wall-clock of this process's share of the fold (a resumed fold counts only its rest).
    return {**result, "seconds": time.perf_counter() - start}


def _prepare(config, corpus, store, fold, speaker_stats) -> _Fold:
    tc = config.train
    sources = input_pipeline.fold_sources(tc, corpus, store, fold, speaker_stats)
    mesh = parallel.data_mesh(tc.num_devices)
    parallel.check_batch_size(tc.batch_size, mesh)
    parallel.check_batch_size(tc.eval_batch_size, mesh, "--config.train.eval_batch_size")
    return _Fold(sources, tuple(corpus.classes), method.from_config(config), len(corpus.classes),
                 tc.eval_batch_size, mesh)


# A loss term above this has diverged: no loss of ser_jax's signals comes near it from a
# sane start (cross-entropy ~2, the paper's λ1·center loss ~64 at initialisation), and
# float32 training has lost all precision long before (lr = 1e9 gives 3e13 and stays finite).
DIVERGED = 1e6


def _truncate_log(path: Path, epochs: int) -> None:
    """Keeps the log lines of the first `epochs` epochs: a run killed after its last
    checkpoint resumes from that checkpoint, and the epochs it will redo must not appear twice."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line).get("epoch", 0) <= epochs]
    if len(kept) != len(lines):
        rundir.write_text(path, "".join(line + "\n" for line in kept))


def _check_and_average(history: list, fold_name: str, first_step: int) -> dict:
    """Mean of each term over the epoch; stops at the first non-finite value, or a loss term
    whose size says the run diverged, naming it."""
    for i, step_metrics in enumerate(history):
        # loss terms first: a diverging loss is the cause, a NaN gradient norm its symptom
        for term, value in sorted(step_metrics.items(), key=lambda kv: not kv[0].startswith("loss/")):
            if not np.isfinite(value):
                raise NonFiniteLoss(f"fold {fold_name}: {term} became {float(value)} at step {first_step + i}; "
                                    "lower --config.optim.learning_rate or a loss weight")
            if term.startswith("loss/") and abs(float(value)) > DIVERGED:
                raise NonFiniteLoss(f"fold {fold_name}: {term} reached {float(value):.3g} at step {first_step + i}: "
                                    "training diverged; lower --config.optim.learning_rate or a loss weight")
    return {term: float(np.mean([m[term] for m in history])) for term in history[0]}


def _host_best(state) -> dict:
    return {"params": jax.device_get(state.params), "batch_stats": jax.device_get(state.batch_stats),
            "signals": jax.device_get(state.signals)}


def _final_evaluation(ctx, state, fold, progress, fold_dir, config, targets=()) -> dict:
    """Val, test and cross-corpus figures of the selected variables; saves them with what
    inference needs (`model/`, `model.json`), every split's embeddings (`embeddings.npz`) and,
    where a head predicts, the val and test class probabilities (`probabilities.npz`)."""
    sources = {t.name: cross_corpus.source(t, ctx.sources["test"]) for t in targets}
    done = evaluation.final(ctx, state, config.train.svm_c, config.train.svm_kernel, targets=sources)
    val, test, extra, other = done.val, done.test, done.extra, done.targets
    rundir.write_embeddings(fold_dir, done.embeddings, {s: ctx.sources[s].labels for s in rundir.SPLITS})
    if done.probabilities:
        rundir.write_probabilities(fold_dir, done.probabilities, {s: ctx.sources[s].labels for s in done.probabilities})
    variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats, "signals": state.signals})
    checkpointing.save_model(fold_dir / rundir.MODEL, variables)
    scaler = ctx.sources["train"].scaler
    rundir.write_json(fold_dir / rundir.MODEL_META, {
        "fold": fold.name, "classes": list(ctx.classes), "scaler": dataclasses.asdict(scaler),
        "crop_frames": ctx.sources["test"].shape.crop_frames, "variables_sha256": checkpointing.digest(variables),
        **extra})
    return {"fold": fold.name, "best_epoch": progress["best_epoch"], "val": val, "test": test, **extra,
            **({"cross_corpus": other} if other else {})}
