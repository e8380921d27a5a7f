"""Grids of variants × seeds: run (or reuse) each, then one comparison table with tests.

A sweep config (configs/sweeps/*.py) holds a `title`, a full experiment config `base`, the
`seeds`, `variants`: ((name, baseline variant or "", ("dotted.key=value", ...)), ...) in table
order, optionally `reference` (a variant every other one is also compared with, e.g. the
eGeMAPS + SVM reference of configs/egemaps_svm.py), `only` (run just these variants; () → all),
`curves`: ((dotted key, (variant, ...)), ...) to plot test UA against, and `embedding_figures`
(t-SNE of each variant beside its baseline) and `ensemble` (True: after each variant that trains
a network, a row for the average of its seeds' class probabilities, fold by fold:
`ser_jax.ensemble`). Each (variant, seed) trains with `train.train_and_evaluate` in
WORKDIR/runs/<variant>/seed_<seed>/: a finished run is read back, an interrupted one resumes,
and a folder holding a run of different settings is refused rather than mixed in.

The comparison (sweep.md / sweep.csv / sweep.json) gives per variant the mean validation UA of
the selected models (what every choice on validation reads, e.g. whether a seed ensemble beats
its single runs), test UA and WA mean ± std over folds × seeds, UA and WA pooled over every test
prediction, the test reconstruction MSE where there is a decoder, the separation of the test
embeddings (`metrics.separation`) and, against its baseline, the mean paired UA difference over
matching (seed, fold) runs with a Wilcoxon signed-rank test. Against the reference, the pairs
are folds: each side's test UA averaged over its seeds first (the reference may be
deterministic, and repeating its figure once per seed would count one fold as several).
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import ml_collections
import numpy as np
from scipy import stats

from ser_jax import ensemble, input_pipeline, method, metrics, plots, report, rundir, train
from ser_jax.errors import SerJaxError

@dataclasses.dataclass(frozen=True)
class Run:
    variant: str
    seed: int
    config: ml_collections.ConfigDict
    workdir: Path


def parse_assignment(text: str) -> tuple[str, object]:
    """`"loss.center_weight=0.3"` → ("loss.center_weight", 0.3); non-literals stay strings."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SerJaxError(f"sweep setting {text!r} is not of the form dotted.key=value")
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = value.strip()
    return key.strip(), parsed


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    baseline: str
    settings: tuple


def variants(sweep) -> dict:
    """name → Variant, in the sweep's order."""
    out = {}
    for entry in sweep.variants:
        if len(entry) != 3:
            raise SerJaxError(f"sweep variant {entry!r} is not (name, baseline, settings)")
        name, baseline, settings = entry
        if name in out:
            raise SerJaxError(f"sweep variant {name!r} appears twice")
        out[name] = Variant(name, baseline, tuple(settings))
    return out


def variant_config(sweep, name: str, seed: int) -> ml_collections.ConfigDict:
    """`sweep.base` with the variant's settings and the seed applied."""
    config = ml_collections.ConfigDict(sweep.base.to_dict())
    flat = dict(parse_assignment(item) for item in variants(sweep)[name].settings)
    try:
        config.update_from_flattened_dict(flat)
    except (KeyError, AttributeError) as err:
        raise SerJaxError(f"sweep variant {name!r}: unknown config key ({err})") from None
    config.seed = seed
    return config


def expand(sweep, workdir) -> list[Run]:
    """Every (variant, seed) of the sweep (restricted to `sweep.only` when it names any)."""
    table = variants(sweep)
    names = list(table)
    unknown = [n for n in sweep.only if n not in names]
    if unknown:
        raise SerJaxError(f"--config.only names unknown variants {unknown}; the sweep has {names}")
    folders = {}
    for name in names:
        folders.setdefault(slug(name), []).append(name)
    clashes = [group for group in folders.values() if len(group) > 1]
    if clashes:
        raise SerJaxError(f"variants {clashes[0]} would share one run folder: name them apart by more "
                          "than punctuation and spaces")
    chosen = [n for n in names if not sweep.only or n in sweep.only]
    for name in chosen:
        base = table[name].baseline
        if base and base not in names:
            raise SerJaxError(f"variant {name!r}: baseline {base!r} is not a variant of this sweep")
    reference = sweep.get("reference", "")
    if reference and reference not in names:
        raise SerJaxError(f"--config.reference={reference!r} is not a variant of this sweep ({names})")
    for name in chosen:
        try:
            method.check(variant_config(sweep, name, int(sweep.seeds[0])))
        except SerJaxError as err:
            raise SerJaxError(f"sweep variant {name!r}: {err}") from None
    return [Run(name, int(seed), variant_config(sweep, name, int(seed)),
                Path(workdir) / "runs" / slug(name) / f"seed_{int(seed)}")
            for name in chosen for seed in sweep.seeds]


def slug(name: str) -> str:
    """A folder name for a variant name (`S+A+C mel` → `S+A+C_mel`, `center λ=0.1` →
    `center_λ=0.1`): runs of anything but letters (any script), digits and `+=.,-` become `_`."""
    return re.sub(r"[^\w+=.,-]+|_+", "_", name).strip("_") or "variant"


def run_sweep(sweep, workdir, *, out=print) -> dict:
    """Trains (or reuses) every run, then writes the comparison and its figures to WORKDIR."""
    workdir = Path(workdir)
    runs = expand(sweep, workdir)
    summaries = {}
    for i, run in enumerate(runs):
        if (run.workdir / rundir.CONFIG).is_file():  # a finished run is reused only if it is this one
            rundir.check_same_settings(run.workdir, run.config)
        label = f"[{i + 1}/{len(runs)}] {run.variant} seed {run.seed}"
        finished = rundir.read_results(run.workdir)
        if finished is not None:
            out(f"{label}: finished earlier, reused ({run.workdir / rundir.RESULTS})")
            summaries[(run.variant, run.seed)] = finished
            continue
        out(f"{label}: training in {run.workdir}")
        summaries[(run.variant, run.seed)] = train.train_and_evaluate(run.config, run.workdir, out=out)
    if sweep.get("ensemble", False) and len(sweep.seeds) > 1:
        for run in runs:
            ensemble.write_missing(run.config, run.workdir, out=out)
    rows = compare(sweep, runs, summaries)
    figures = _figures(sweep, runs, rows, workdir)
    _write(workdir, sweep, rows, figures)
    out(f"comparison of {len(rows)} variants written: {workdir / 'sweep.md'}")
    return {"rows": rows, "figures": figures}


def paired_test(values: np.ndarray, baseline: np.ndarray) -> dict:
    """Mean paired difference and the two-sided Wilcoxon signed-rank test of `values − baseline`.

    Returns:
      {"n", "mean_diff", "statistic" (min of the positive and negative rank sums), "p"};
      statistic and p are None with fewer than two non-zero differences.
    """
    diff = np.asarray(values, np.float64) - np.asarray(baseline, np.float64)
    result = {"n": int(diff.size), "mean_diff": float(diff.mean()) if diff.size else float("nan"),
              "statistic": None, "p": None}
    if np.count_nonzero(diff) >= 2:
        test = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
        result["statistic"], result["p"] = float(test.statistic), float(test.pvalue)
    return result


def compare(sweep, runs: list[Run], summaries: dict) -> list[dict]:
    """One row per variant (see the module docstring), each followed by its seed ensemble's
    where `sweep.ensemble` asks for them (`ensembles`)."""
    rows = []
    speaker = {v for (v, _), s in summaries.items() if s.get("normalization", "").startswith("speaker")}
    summaries = {**summaries, **ensembles(sweep, runs, summaries)}
    present = {name for name, _ in summaries}
    for name in _ordered(present, runs):
        per_run = {(seed, f["fold"]): f for (v, seed), s in summaries.items() if v == name for f in s["folds"]}
        classes = next(s["classes"] for (v, _), s in summaries.items() if v == name)
        figures = report.over_folds(list(per_run.values()), classes)
        mean, std, pooled = figures["mean"], figures["std"], figures["pooled"]
        variant = variants(sweep).get(name) or _ensemble_variant(sweep, name)
        row = {"variant": name, "baseline": variant.baseline, "settings": list(variant.settings),
               "runs": len(per_run), "ua_mean": mean["ua"], "ua_std": std["ua"],
               "wa_mean": mean["wa"], "wa_std": std["wa"], "f1_mean": mean["macro_f1"], "f1_std": std["macro_f1"],
               "pooled_ua": pooled["ua"], "pooled_wa": pooled["wa"], "pooled_f1": pooled["macro_f1"],
               "pooled_n": pooled["n"], "speaker_normalization": name.removesuffix(ENSEMBLE) in speaker}
        val = [f["val"]["ua"] for f in per_run.values() if "val" in f]
        if len(val) == len(per_run):
            row["val_ua_mean"] = float(np.mean(val))
        if "recon_mse" in mean:
            row["recon_mse_mean"], row["recon_mse_std"] = mean["recon_mse"], std["recon_mse"]
        seps = _separations(runs, name)  # none for an ensemble: its members' embedding spaces differ
        if seps:
            row["separation_mean"], row["separation_std"] = float(np.mean(seps)), float(np.std(seps))
        base = row["baseline"]
        if base and base in present:
            base_runs = {(seed, f["fold"]): f for (v, seed), s in summaries.items() if v == base
                         for f in s["folds"]}
            keys = sorted(set(per_run) & set(base_runs))
            test = paired_test([per_run[k]["test"]["ua"] for k in keys], [base_runs[k]["test"]["ua"] for k in keys])
            row.update({"pairs": test["n"], "ua_diff": test["mean_diff"], "wilcoxon_w": test["statistic"],
                        "p": test["p"]})
        reference = sweep.get("reference", "")
        if reference and reference != name and reference in present:
            mine, theirs = _fold_means(summaries, name), _fold_means(summaries, reference)
            folds = sorted(set(mine) & set(theirs))
            test = paired_test([mine[f] for f in folds], [theirs[f] for f in folds])
            row.update({"ref_folds": test["n"], "ref_ua_diff": test["mean_diff"], "ref_p": test["p"]})
        rows.append(row)
    return rows


ENSEMBLE = ", seed ensemble"


def ensemble_name(name: str) -> str:
    """The table's name of variant `name`'s seed ensemble."""
    return name + ENSEMBLE


def _ensemble_variant(sweep, name: str) -> Variant:
    """An ensemble row's settings are its variant's; its baseline is the baseline's ensemble."""
    own = variants(sweep)[name[:-len(ENSEMBLE)]]
    return Variant(name, ensemble_name(own.baseline) if own.baseline else "", own.settings)


def _ordered(present: set, runs: list[Run]) -> list[str]:
    """Variant names in table order, each ensemble right after its variant."""
    return [m for n in dict.fromkeys(r.variant for r in runs) for m in (n, ensemble_name(n)) if m in present]


def ensembles(sweep, runs: list[Run], summaries: dict) -> dict:
    """{(ensemble name, -1): {"classes", "folds"}} of each variant that trains a network, its
    seeds' probabilities averaged fold by fold, where `sweep.ensemble` is on and there are
    several seeds; else {}."""
    if not sweep.get("ensemble", False) or len(sweep.seeds) < 2:
        return {}
    out = {}
    for name in dict.fromkeys(r.variant for r in runs):
        members = [r for r in runs if r.variant == name]
        if not method.from_config(members[0].config).encoder.trainable:
            continue  # nothing trained (the eGeMAPS reference): every seed is the same model
        classes = summaries[(name, members[0].seed)]["classes"]
        out[(ensemble_name(name), -1)] = {"classes": classes,
                                          "folds": ensemble.fold_results([r.workdir for r in members], classes)}
    return out


def _fold_means(summaries: dict, name: str) -> dict:
    """fold → test UA averaged over the variant's seeds."""
    values = {}
    for (variant, _), summary in summaries.items():
        if variant == name:
            for f in summary["folds"]:
                values.setdefault(f["fold"], []).append(f["test"]["ua"])
    return {fold: float(np.mean(v)) for fold, v in values.items()}


def _separations(runs: list[Run], name: str) -> list[float]:
    values = []
    for run in runs:
        if run.variant != name:
            continue
        for fold in sorted(run.workdir.glob("fold_*")):
            emb = rundir.read_embeddings(fold)
            if emb is not None and len(np.unique(emb["test_labels"])) > 1:
                values.append(metrics.separation(emb["test"], emb["test_labels"]))
    return values


def settings_between(base, config) -> tuple:
    """The `dotted.key=value` settings that turn `base` into `config` (a method config as a
    sweep variant: e.g. configs/dai.py in a sweep whose base is configs/s.py)."""
    old, new = rundir.flatten(base), rundir.flatten(config)
    unknown = sorted(set(new) - set(old))
    if unknown:
        raise SerJaxError(f"keys {unknown[:3]} are not in the sweep's base config")
    return tuple(f"{k}={new[k]!r}" for k in changed_keys(old, new))


def changed_keys(old: dict, new: dict) -> list:
    """The keys of the flattened config `new` whose value differs from the flattened `old`'s,
    compared as JSON (a tuple and the list it is saved as are the same setting)."""
    return [k for k in new if json.dumps(old[k]) != json.dumps(new[k])]


def _figures(sweep, runs: list[Run], rows: list[dict], workdir: Path) -> dict:
    figures = {}
    first = {}
    for run in runs:
        first.setdefault(run.variant, run)
    for row in rows:
        base = row["baseline"]
        if not base or base not in first or not sweep.embedding_figures:
            continue
        panels = []
        for name in (base, row["variant"]):
            emb = rundir.read_embeddings(rundir.fold_dir(first[name].workdir, 0))
            if emb is None:
                break
            classes = rundir.read_results(first[name].workdir)["classes"]
            panels += [(f"{name}: {split}", emb[split], emb[f"{split}_labels"]) for split in ("test", "train")]
        else:
            rel = f"plots/tsne_{slug(row['variant'])}_vs_{slug(base)}.png"
            plots.embedding_figure(panels, classes, workdir / rel, method="tsne")
            figures[f"t-SNE of fold 0 (seed {first[base].seed}): {row['variant']} against {base}"] = rel
    by_name = {row["variant"]: row for row in rows}
    for key, names in sweep.curves:
        points = [(_lookup(variant_config(sweep, n, sweep.seeds[0]), key), by_name[n]) for n in names if n in by_name]
        if len(points) >= 2:
            rel = f"plots/curve_{slug(key)}.png"
            picked = [r for _, r in points]
            separation = None
            if all("separation_mean" in r for r in picked):
                separation = ([r["separation_mean"] for r in picked], [r["separation_std"] for r in picked])
            plots.sweep_curve_figure([float(v) for v, _ in points], [100 * r["ua_mean"] for r in picked],
                                     [100 * r["ua_std"] for r in picked], workdir / rel, xlabel=key,
                                     separation=separation)
            figures[f"Test UA and separation against {key} (mean ± std over folds × seeds)"] = rel
    return figures


def _lookup(config, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


_COLUMNS = ("variant", "baseline", "runs", "val_ua_mean", "ua_mean", "ua_std", "wa_mean", "wa_std", "f1_mean", "f1_std",
            "pooled_ua", "pooled_wa", "pooled_f1", "pooled_n", "recon_mse_mean", "recon_mse_std", "separation_mean", "separation_std", "pairs", "ua_diff",
            "wilcoxon_w", "p", "ref_folds", "ref_ua_diff", "ref_p")


def _write(workdir: Path, sweep, rows: list[dict], figures: dict) -> None:
    (workdir / "sweep.json").write_text(json.dumps({"seeds": list(sweep.seeds), "rows": rows,
                                                    "figures": figures}, indent=2))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    (workdir / "sweep.csv").write_text(buffer.getvalue())
    (workdir / "sweep.md").write_text(markdown(sweep, rows, figures))


def markdown(sweep, rows: list[dict], figures: dict) -> str:
    """The comparison table, how to read it, and the figures."""
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    has_mse = any("recon_mse_mean" in r for r in rows)
    has_val = any("val_ua_mean" in r for r in rows)
    head = ["variant", "runs"] + (["val UA (%)"] if has_val else [])
    head += ["UA (%)", "WA (%)", "macro-F1 (%)", "pooled UA", "pooled WA", "pooled F1", "separation"]
    head += ["test MSE"] if has_mse else []
    head += ["baseline", "ΔUA (pts)", "Wilcoxon W", "p"]
    reference = sweep.get("reference", "")
    head += [f"ΔUA vs {reference} (pts, per fold)", "p (vs reference)"] if reference else []
    title, mark = sweep.title, lambda r: ""
    normalized = [r.get("speaker_normalization", False) for r in rows]
    if all(normalized) and rows:
        title += f" — with {input_pipeline.SPEAKER_NORMALIZATION}"
    elif any(normalized):
        title += f" — rows marked † use {input_pipeline.SPEAKER_NORMALIZATION}"
        mark = lambda r: " †" if r.get("speaker_normalization") else ""  # noqa: E731
    lines = [f"# {title}", "",
             f"Seeds {list(sweep.seeds)}; "
             + ("val UA: mean validation UA of the selected models (the validation speakers, on which every "
                "choice is made); " if has_val else "")
             + "test UA/WA/macro-F1 mean ± std over folds × seeds; pooled over every test "
             "prediction; separation: mean intra- over inter-class distance of the test embeddings "
             "(lower = tighter); ΔUA: mean paired difference against the baseline over matching "
             "(seed, fold) runs, with the two-sided Wilcoxon signed-rank test."
             + (f" ΔUA vs {reference}: mean paired difference over folds (each side's UA averaged over "
                "its seeds), Wilcoxon signed-rank test." if reference else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["variant"] + mark(r), str(r["runs"])]
        if has_val:
            cells.append(pct(r["val_ua_mean"]) if "val_ua_mean" in r else "–")
        cells += [f"{pct(r['ua_mean'])} ± {pct(r['ua_std'])}",
                 f"{pct(r['wa_mean'])} ± {pct(r['wa_std'])}", f"{pct(r['f1_mean'])} ± {pct(r['f1_std'])}",
                 pct(r["pooled_ua"]), pct(r["pooled_wa"]), pct(r["pooled_f1"]),
                 f"{r['separation_mean']:.3f}" if "separation_mean" in r else "–"]
        if has_mse:
            cells.append(f"{r['recon_mse_mean']:.5f}" if "recon_mse_mean" in r else "–")
        if "ua_diff" in r:
            cells += [r["baseline"], f"{100 * r['ua_diff']:+.1f}",
                      "–" if r["wilcoxon_w"] is None else f"{r['wilcoxon_w']:.1f}",
                      "–" if r["p"] is None else f"{r['p']:.3g}"]
        else:
            cells += ["–"] * 4
        if reference:
            cells += ([f"{100 * r['ref_ua_diff']:+.1f}", "–" if r["ref_p"] is None else f"{r['ref_p']:.3g}"]
                      if "ref_ua_diff" in r else ["–", "–"])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Settings of each variant (on top of the sweep's base config):", ""]
    lines += [f"- **{r['variant']}**: " + (", ".join(f"`{s}`" for s in r["settings"]) or "base config")
              for r in rows]
    for caption, path in figures.items():
        lines += ["", f"**{caption}**", "", f"![{caption}]({path})"]
    return "\n".join(lines) + "\n"
