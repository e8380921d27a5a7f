"""Result tables: per fold, mean ± std over folds, pooled over all folds."""

from __future__ import annotations

import numpy as np

from ser_jax import input_pipeline, metrics


def over_folds(fold_results: list[dict], classes) -> dict:
    """The one aggregation of test figures (runs, sweeps): mean and std over the given fold
    results (of one run, or of every seed of a sweep variant) of WA, UA, macro-F1 and, where
    every fold has it, the reconstruction MSE, and the figures pooled over all their test
    predictions. Macro-F1 is computed from each fold's confusion matrix, so results written
    before it was recorded get it too.

    Returns:
      {"mean": {"wa", "ua", "macro_f1"[, "recon_mse"]}, "std": {...}, "pooled": metrics.summarize(...)}.
    """
    keys = ["wa", "ua"] + (["recon_mse"] if all("recon_mse" in r["test"] for r in fold_results) else [])
    values = {k: np.asarray([r["test"][k] for r in fold_results], np.float64) for k in keys}
    values["macro_f1"] = np.asarray([metrics.macro_f1(r["test"]["confusion"]) for r in fold_results], np.float64)
    pooled = metrics.summarize(np.sum([np.asarray(r["test"]["confusion"]) for r in fold_results], axis=0),
                               classes)
    return {"mean": {k: float(v.mean()) for k, v in values.items()},
            "std": {k: float(v.std()) for k, v in values.items()},
            "pooled": pooled}


def aggregate(fold_results: list[dict], classes) -> dict:
    """results.json content from the per-fold results (each with test/val summaries)."""
    return {"classes": list(classes), "folds": fold_results, **over_folds(fold_results, classes)}


def markdown(summary: dict, title: str, figures: dict | None = None, *, input_scaling: str) -> str:
    """A table like the seeds' Table 1, the per-fold rows, the pooled confusion matrix and
    links to `figures` ({caption: relative PNG path}); `input_scaling` (train.input_scaling)
    names the scale of the reconstruction MSE, where there is one."""
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    m, s, p = summary["mean"], summary["std"], summary["pooled"]
    lines = [f"# {title}", "",
             "| | WA (%) | UA (%) | macro-F1 (%) |", "|---|---|---|---|",
             f"| mean ± std over {len(summary['folds'])} folds | {pct(m['wa'])} ± {pct(s['wa'])} | "
             f"{pct(m['ua'])} ± {pct(s['ua'])} | {pct(m['macro_f1'])} ± {pct(s['macro_f1'])} |",
             f"| pooled over folds ({p['n']} test utterances) | {pct(p['wa'])} | {pct(p['ua'])} | "
             f"{pct(p['macro_f1'])} |", ""]
    lines += [f"**Warning:** {w}." for w in summary.get("warnings", [])] + ([""] if summary.get("warnings") else [])
    if "recon_mse" in m:
        lines += [f"Test reconstruction MSE ({input_pipeline.SCALINGS[input_scaling]}): "
                  f"{m['recon_mse']:.5f} ± {s['recon_mse']:.5f}", ""]
    lines += ["| fold | best epoch | val UA | test WA | test UA | test macro-F1 | test n | time (s) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in summary["folds"]:
        seconds = f"{r['seconds']:.1f}" if "seconds" in r else "–"  # folds trained before it was recorded
        lines.append(f"| {r['fold']} | {r['best_epoch']} | {pct(r['val']['ua'])} | {pct(r['test']['wa'])} | "
                     f"{pct(r['test']['ua'])} | {pct(metrics.macro_f1(r['test']['confusion']))} | {r['test']['n']} | {seconds} |")
    classes = summary["classes"]
    lines += ["", "Pooled test confusion (rows: true, columns: predicted)", "",
              "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for c, row in zip(classes, p["confusion"]):
        lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
    for name, target in summary.get("cross_corpus", {}).items():
        lines += ["", *_cross_corpus_lines(name, target, classes)]
    for caption, path in (figures or {}).items():
        lines += ["", f"**{caption}**", "", path if path.startswith("not drawn") else f"![{caption}]({path})"]
    return "\n".join(lines) + "\n"


def _cross_corpus_lines(name: str, target: dict, classes) -> list[str]:
    """A target corpus's table: each fold's selected model on every mapped utterance of it."""
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    m, s, p = target["mean"], target["std"], target["pooled"]
    mapping = ", ".join(f"{a} → {b}" for a, b in target["mapping"].items())
    left = ", ".join(f"{c} ({n})" for c, n in target["left_out"].items()) or "none"
    present = [c for c, row in zip(classes, p["confusion"]) if sum(row)]
    lines = [f"## Cross-corpus: {name}", "",
             f"{target['utterances']} utterances; classes mapped: {mapping}; left out (no training class): {left}. "
             f"UA and macro-F1 average the {len(present)} training classes the target has.", "",
             "| fold | WA (%) | UA (%) | macro-F1 (%) | n |", "|---|---|---|---|---|"]
    for r in target["folds"]:
        lines.append(f"| {r['fold']} | {pct(r['wa'])} | {pct(r['ua'])} | {pct(metrics.macro_f1(r['confusion']))} | "
                     f"{r['n']} |")
    lines += [f"| mean ± std over {len(target['folds'])} folds | {pct(m['wa'])} ± {pct(s['wa'])} | "
              f"{pct(m['ua'])} ± {pct(s['ua'])} | {pct(m['macro_f1'])} ± {pct(s['macro_f1'])} | |",
              f"| pooled over folds | {pct(p['wa'])} | {pct(p['ua'])} | {pct(p['macro_f1'])} | {p['n']} |", "",
              "Pooled confusion (rows: true, mapped onto the training classes; columns: predicted)", "",
              "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for c, row in zip(classes, p["confusion"]):
        if sum(row):
            lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
    return lines
