"""Result tables: per fold, mean ± std over folds, pooled over all folds."""

from __future__ import annotations

import numpy as np

from ser_jax import metrics


def aggregate(fold_results: list[dict], classes) -> dict:
    """results.json content from the per-fold results (each with test/val summaries)."""
    wa = np.asarray([r["test"]["wa"] for r in fold_results])
    ua = np.asarray([r["test"]["ua"] for r in fold_results])
    pooled = metrics.summarize(np.sum([np.asarray(r["test"]["confusion"]) for r in fold_results], axis=0),
                               classes)
    return {
        "classes": list(classes),
        "folds": fold_results,
        "mean": {"wa": float(wa.mean()), "ua": float(ua.mean())},
        "std": {"wa": float(wa.std()), "ua": float(ua.std())},
        "pooled": pooled,
    }


def markdown(summary: dict, title: str) -> str:
    """A table like the seeds' Table 1, plus the per-fold rows and the pooled confusion matrix."""
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    m, s, p = summary["mean"], summary["std"], summary["pooled"]
    lines = [f"# {title}", "",
             "| | WA (%) | UA (%) |", "|---|---|---|",
             f"| mean ± std over {len(summary['folds'])} folds | {pct(m['wa'])} ± {pct(s['wa'])} | "
             f"{pct(m['ua'])} ± {pct(s['ua'])} |",
             f"| pooled over folds ({p['n']} test utterances) | {pct(p['wa'])} | {pct(p['ua'])} |", "",
             "| fold | best epoch | val UA | test WA | test UA | test n |", "|---|---|---|---|---|---|"]
    for r in summary["folds"]:
        lines.append(f"| {r['fold']} | {r['best_epoch']} | {pct(r['val']['ua'])} | {pct(r['test']['wa'])} | "
                     f"{pct(r['test']['ua'])} | {r['test']['n']} |")
    classes = summary["classes"]
    lines += ["", "Pooled test confusion (rows: true, columns: predicted)", "",
              "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for c, row in zip(classes, p["confusion"]):
        lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
