"""Figures of runs and sweeps (PNG, matplotlib's Agg backend).

Every embedding panel shows `metrics.separation` (computed in the embedding space itself,
not in the 2-D projection) in its title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from ser_jax import metrics, rundir  # noqa: E402

METHODS = ("tsne", "pca")


def project(embeddings: np.ndarray, method: str, *, seed: int = 0) -> np.ndarray:
    """2-D projection [N, 2] by t-SNE (perplexity ≤ 30, PCA init) or PCA."""
    x = np.asarray(embeddings, np.float64)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    raise ValueError(f"unknown projection {method!r}: {METHODS}")


def embedding_figure(panels: Sequence[tuple], classes: Sequence[str], path, *, method: str) -> list[int]:
    """Side-by-side 2-D projections coloured by emotion.

    Args:
      panels: (title, embeddings [N, D], labels [N]) per panel.
      classes: class names (labels index them).
      path: PNG to write.
      method: `tsne` or `pca`.

    Returns:
      The number of points drawn in each panel.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    colours = plt.get_cmap("tab10")
    drawn = []
    for ax, (title, emb, labels) in zip(axes[0], panels):
        xy = project(emb, method)
        labels = np.asarray(labels)
        count = 0
        for c, name in enumerate(classes):
            sel = labels == c
            if sel.any():
                dots = ax.scatter(xy[sel, 0], xy[sel, 1], s=9, color=colours(c % 10), label=name, alpha=0.8)
                count += len(dots.get_offsets())
        drawn.append(count)
        ax.set_title(f"{title}\nseparation {metrics.separation(emb, labels):.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=7, loc="best", markerscale=1.5)
    fig.suptitle(f"{method.upper()} of the embeddings (separation: intra/inter-class distance, lower = tighter)",
                 fontsize=9)
    _save(fig, path)
    return drawn


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], path, *, title: str) -> None:
    """Row-normalised confusion matrix (rows: true class), recall on the diagonal."""
    counts = np.asarray(confusion, np.float64)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(classes), 0.8 + 0.7 * len(classes)))
    ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def curves_figure(logs: Sequence[Sequence[dict]], path) -> list[str]:
    """Training curves: each loss term and validation UA per epoch, mean over folds (band:
    min–max). `logs` holds each fold's log.jsonl records. Returns the plotted keys."""
    keys = sorted({k for log in logs for r in log for k in r if k.startswith(("loss/", "val/"))})
    cols = min(4, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        series = [np.asarray([r[key] for r in log if key in r]) for log in logs]
        series = [s for s in series if s.size]
        length = min(s.size for s in series)
        stack = np.stack([s[:length] for s in series])
        epochs = np.arange(1, length + 1)
        ax.plot(epochs, stack.mean(axis=0))
        ax.fill_between(epochs, stack.min(axis=0), stack.max(axis=0), alpha=0.25)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    _save(fig, path)
    return keys


def sweep_curve_figure(values: Sequence[float], means: Sequence[float], stds: Sequence[float], path, *,
                       xlabel: str, ylabel: str = "test UA (%)",
                       separation: tuple[Sequence[float], Sequence[float]] | None = None) -> str:
    """A metric against a swept hyperparameter (mean ± std over folds × seeds), and beside it
    the test embeddings' separation figure (mean ± std) when `separation` gives it.

    Values spanning two decades or more get a log axis, or a symmetric-log one (linear up
    to the smallest positive value) when one of them is 0. Returns the x-axis scale."""
    order = np.argsort(values)
    x = np.asarray(values, np.float64)[order]
    positive = x[x > 0]
    scale = "linear"
    if len(positive) >= 2 and positive.max() / positive.min() >= 100:
        scale = "log" if len(positive) == len(x) else "symlog"
    scale_options = {"linthresh": float(positive.min())} if scale == "symlog" else {}
    panels = [(means, stds, ylabel)]
    if separation is not None:
        panels.append((*separation, "separation (intra / inter distance)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (m, s, label) in zip(axes[0], panels):
        ax.errorbar(x, np.asarray(m)[order], yerr=np.asarray(s)[order], marker="o", capsize=3)
        ax.set_xscale(scale, **scale_options)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
    fig.tight_layout()
    _save(fig, path)
    return scale


def run_figures(workdir, summary: dict) -> dict:
    """The figures of one run, written to WORKDIR/plots/: pooled confusion, training curves,
    and t-SNE / PCA of the first fold's train and test embeddings. Returns {caption: path
    relative to WORKDIR}."""
    workdir = Path(workdir)
    out = workdir / rundir.PLOTS
    classes = summary["classes"]
    figures = {}

    def attempt(caption, path, draw):
        """A figure that cannot be drawn is named in results.md, never an end of the run."""
        try:
            draw()
            figures[caption] = path
        except Exception as err:  # noqa: BLE001 (matplotlib, sklearn: any failure is only a missing figure)
            figures[caption] = f"not drawn: {type(err).__name__}: {err}"

    attempt("Pooled test confusion, row-normalised", "plots/confusion.png",
            lambda: confusion_figure(summary["pooled"]["confusion"], classes, out / "confusion.png",
                                     title=f"pooled test confusion ({summary['pooled']['n']} utterances)"))
    logs = rundir.read_logs(workdir)
    if any(logs):  # (identity → SVM trains nothing: empty logs)
        attempt("Training curves (mean over folds, band: min–max)", "plots/curves.png",
                lambda: curves_figure(logs, out / "curves.png"))
    emb = rundir.read_embeddings(rundir.fold_dir(workdir, 0))
    if emb is not None:
        panels = [(f"{split} ({summary['folds'][0]['fold']})", emb[split], emb[f"{split}_labels"])
                  for split in ("train", "test") if split in emb and len(np.unique(emb[f"{split}_labels"])) > 1]
        for method in METHODS:
            caption, path = f"{method.upper()} of the first fold's embeddings", f"plots/embeddings_{method}.png"
            if panels and not all(np.isfinite(x).all() for _, x, _ in panels):
                figures[caption] = "not drawn: the embeddings hold non-finite values"  # t-SNE would crash on them
            elif panels:
                attempt(caption, path, lambda m=method, p=path: embedding_figure(panels, classes, workdir / p, method=m))
    return figures


def _save(fig, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
