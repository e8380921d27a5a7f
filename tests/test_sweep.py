"""The sweep runner on configs/test.py-sized runs, and its paired test on known inputs."""

import csv
import importlib
import json

import ml_collections
import numpy as np
import pytest

from configs import test as test_config
from ser_jax import input_pipeline, rundir, status, sweep
from ser_jax.errors import SerJaxError


def test_wilcoxon_on_known_differences():
    # differences 1, -2, 3, 4, 5: ranks 1..5, negative rank sum 2 = W; exact two-sided
    # p = 2 · #{subsets of {1..5} with sum ≤ 2} / 2^5 = 2 · 3 / 32
    result = sweep.paired_test(np.array([1.0, -2, 3, 4, 5]) + 10, np.full(5, 10.0))
    assert result["n"] == 5 and result["mean_diff"] == pytest.approx(2.2)
    assert result["statistic"] == 2.0 and result["p"] == pytest.approx(6 / 32)
    assert sweep.paired_test([0.5, 0.5], [0.5, 0.5])["p"] is None  # no differences: no test


def test_parse_assignment():
    assert sweep.parse_assignment("signals.center.weight=0.3") == ("signals.center.weight", 0.3)
    assert sweep.parse_assignment("features.kind='mfcc'") == ("features.kind", "mfcc")
    assert sweep.parse_assignment("model.encoder=satt") == ("model.encoder", "satt")
    with pytest.raises(SerJaxError):
        sweep.parse_assignment("no_equals_sign")


def test_run_folders_keep_variants_apart(tmp_path):
    # the λ and α sweeps of configs/sweeps/dai.py differ only in a Greek letter
    config = ml_collections.ConfigDict({"base": test_config.get_config(), "seeds": (0,), "only": (),
                                        "variants": (("a", "", ()), ("c λ=0.1", "a", ()), ("c α=0.1", "a", ()))})
    folders = [run.workdir.parent.name for run in sweep.expand(config, tmp_path)]
    assert folders == ["a", "c_λ=0.1", "c_α=0.1"]
    config.variants = (("S+A mel", "", ()), ("S+A  mel", "", ()))
    with pytest.raises(SerJaxError, match="share one run folder"):
        sweep.expand(config, tmp_path)


def _tiny_sweep(emodb_root, cache_dir):
    config = ml_collections.ConfigDict()
    config.title = "tiny"
    config.base = test_config.get_config()
    config.base.data.root, config.base.cache_dir = str(emodb_root), str(cache_dir)
    config.base.train.epochs = 1
    config.seeds = (0, 1)
    config.only = ()
    config.variants = (("S", "", ("signals.center.weight=0.0", "signals.reconstruction.weight=0.0")),
                       ("S+C", "S", ("signals.reconstruction.weight=0.0",)))
    config.curves = (("signals.center.weight", ("S", "S+C")),)
    config.embedding_figures = True
    return config


def test_sweep_table_is_complete_and_finished_runs_are_reused(emodb_root, cache_dir, tmp_path):
    config = _tiny_sweep(emodb_root, cache_dir)
    messages = []
    first = sweep.run_sweep(config, tmp_path, out=messages.append)
    rows = {r["variant"]: r for r in first["rows"]}
    assert list(rows) == ["S", "S+C"]
    for row in rows.values():
        assert row["runs"] == 4  # 2 seeds × 2 folds
        assert 0 <= row["ua_mean"] <= 1 and 0 <= row["pooled_wa"] <= 1 and row["separation_mean"] > 0
        assert row["pooled_n"] == 2 * (39 + 42)  # speakers 03 and 08: 4-class utterances, per seed
    assert rows["S+C"]["pairs"] == 4 and "ua_diff" not in rows["S"]
    assert rows["S+C"]["ua_diff"] == pytest.approx(rows["S+C"]["ua_mean"] - rows["S"]["ua_mean"])
    with open(tmp_path / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == ["S", "S+C"] and table[1]["baseline"] == "S"
    assert all(table[0][k] != "" for k in ("ua_mean", "ua_std", "wa_mean", "pooled_ua", "separation_mean"))
    md = (tmp_path / "sweep.md").read_text()
    assert "| S+C | 4 |" in md and "Wilcoxon" in md
    for path in json.loads((tmp_path / "sweep.json").read_text())["figures"].values():
        assert (tmp_path / path).stat().st_size > 1000 and f"({path})" in md
    assert len(first["figures"]) == 2  # the t-SNE beside the baseline and the λ curve
    assert sum("training in" in m for m in messages) == 4

    messages.clear()
    second = sweep.run_sweep(config, tmp_path, out=messages.append)
    assert sum("reused" in m for m in messages) == 4 and not any("training in" in m for m in messages)
    assert second["rows"] == first["rows"]

    # seed ensembles: a run that lacks a fold's probabilities gets them back from its saved model
    fold = tmp_path / "runs" / "S" / "seed_1" / "fold_01"
    kept = rundir.read_probabilities(fold)
    (fold / rundir.PROBABILITIES).unlink()
    config.ensemble = True
    messages.clear()
    third = sweep.run_sweep(config, tmp_path, out=messages.append)
    assert sum("class probabilities of 1 finished folds" in m for m in messages) == 1
    again = rundir.read_probabilities(fold)
    for key in kept:
        np.testing.assert_allclose(again[key], kept[key], rtol=1e-5, atol=1e-6)
    rows = {r["variant"]: r for r in third["rows"]}
    assert list(rows) == ["S", "S, seed ensemble", "S+C", "S+C, seed ensemble"]
    for name in ("S", "S+C"):
        def ensemble_ua(split):  # the two seeds' probabilities summed, fold by fold: mean UA
            uas = []
            for k in range(2):
                members = [rundir.read_probabilities(tmp_path / "runs" / sweep.slug(name) / f"seed_{s}"
                                                     / f"fold_{k:02d}") for s in (0, 1)]
                predicted = (members[0][split] + members[1][split]).argmax(axis=1)
                labels = members[0][f"{split}_labels"]
                uas.append(np.mean([np.mean(predicted[labels == c] == c) for c in np.unique(labels)]))
            return np.mean(uas)

        ensemble = rows[f"{name}, seed ensemble"]
        assert ensemble["runs"] == 2 and ensemble["ua_mean"] == pytest.approx(ensemble_ua("test"))
        # its validation UA is the averaged probabilities' own, not its members' mean
        assert ensemble["val_ua_mean"] == pytest.approx(ensemble_ua("val"))
        single = [f["val"]["ua"] for s in (0, 1)
                  for f in rundir.read_results(tmp_path / "runs" / sweep.slug(name) / f"seed_{s}")["folds"]]
        assert rows[name]["val_ua_mean"] == pytest.approx(np.mean(single))
        assert ensemble["pooled_n"] == 39 + 42 and "separation_mean" not in ensemble

    assert rows["S+C, seed ensemble"]["baseline"] == "S, seed ensemble" and rows["S+C, seed ensemble"]["pairs"] == 2
    config.ensemble = False

    config.base.model.conv_gru.unroll = 5  # how the GRU loop runs, not what it computes: still reused
    messages.clear()
    sweep.run_sweep(config, tmp_path, out=messages.append)
    assert sum("reused" in m for m in messages) == 4 and not any("training in" in m for m in messages)

    config.base.train.epochs = 2  # other settings in the same folder: refused, not mixed in
    with pytest.raises(SerJaxError, match="other settings.*train.epochs"):
        sweep.run_sweep(config, tmp_path, out=messages.append)

    # --mode=status: each run's standing, read from its files. With the settings above every
    # run is of other settings (said, not counted as theirs); then, with the runs' settings, a
    # seed never run and a run cut back to one finished fold and one epoch of its second
    assert "other settings (train.epochs 1 → 2)" in status.report(config, tmp_path, out=lambda _: None)[0]
    config.base.train.epochs = 1
    config.seeds = (0, 1, 2)
    run = tmp_path / "runs" / "S+C" / "seed_1"
    (run / rundir.RESULTS).unlink()
    (rundir.fold_dir(run, 1) / rundir.RESULT).unlink()
    lines = status.report(config, tmp_path, out=lambda _: None)
    s_mean = rundir.read_results(tmp_path / "runs" / "S" / "seed_0")["mean"]["ua"]
    assert lines[0] == f"S seed 0: finished: 2 folds, test UA {100 * s_mean:.1f} ± " + lines[0].split("± ")[1]
    assert lines[2] == "S seed 2: not started"
    assert lines[4] == "S+C seed 1: 1 of 2 folds done; fold 2 at epoch 1 of 1"


def test_every_variant_is_compared_with_the_reference_fold_by_fold(tmp_path):
    """ΔUA against `sweep.reference` pairs folds, each side's UA averaged over its seeds
    first: three folds, hand-computed."""
    config = ml_collections.ConfigDict({"title": "ref", "seeds": (0, 1), "only": (), "reference": "ref",
                                        "variants": (("ref", "", ()), ("m", "", ()))})

    def summary(uas, val=None):
        folds = [{"fold": f"f{i}", "test": {"ua": ua, "wa": ua, "confusion": [[1, 0], [0, 1]]}}
                 for i, ua in enumerate(uas)]
        for f, v in zip(folds, val or ()):
            f["val"] = {"ua": v}
        return {"classes": ["a", "b"], "folds": folds}

    summaries = {("ref", 0): summary([0.5, 0.6, 0.75]), ("ref", 1): summary([0.5, 0.6, 0.75]),
                 ("m", 0): summary([0.6, 0.7, 0.8], val=[0.9, 0.8, 0.7]),
                 ("m", 1): summary([0.7, 0.7, 0.6], val=[0.6, 0.5, 0.7])}
    runs = [sweep.Run(v, s, None, tmp_path / v / str(s)) for v, s in summaries]
    rows = {r["variant"]: r for r in sweep.compare(config, runs, summaries)}
    # per-fold means of m: 0.65, 0.70, 0.70 → differences +0.15, +0.10, −0.05
    assert rows["m"]["ref_folds"] == 3 and rows["m"]["ref_ua_diff"] == pytest.approx(0.2 / 3)
    # ranks 3, 2 (positive) and 1 (negative): W = 1; exact two-sided p = 2 · 2/8
    assert rows["m"]["ref_p"] == pytest.approx(0.5)
    assert "ref_ua_diff" not in rows["ref"]
    # validation UA: the mean over m's six runs, (0.9 + 0.8 + 0.7 + 0.6 + 0.5 + 0.7) / 6; the
    # reference's folds have none, so its cell is empty rather than made up
    assert rows["m"]["val_ua_mean"] == pytest.approx(4.2 / 6) and "val_ua_mean" not in rows["ref"]
    md = sweep.markdown(config, list(rows.values()), {})
    assert "ΔUA vs ref (pts, per fold)" in md and "| +6.7 | 0.5 |" in md
    assert "| val UA (%) |" in md and "| m | 6 | 70.0 | 68.3 ± " in md and "| ref | 6 | – | 61.7 ± " in md
    assert md.startswith("# ref\n") and "†" not in md  # no normalisation: the title says nothing of it
    # per-speaker normalisation (train.py's results.json says so) is declared in the title line:
    # for every row there, or row by row when only some use it
    for key in summaries:
        summaries[key]["normalization"] = "speaker (transductive: uses the test speaker's unlabelled audio)"
    md = sweep.markdown(config, sweep.compare(config, runs, summaries), {})
    assert md.splitlines()[0] == f"# ref — with {input_pipeline.SPEAKER_NORMALIZATION}" and "†" not in md
    del summaries[("ref", 0)]["normalization"], summaries[("ref", 1)]["normalization"]
    md = sweep.markdown(config, sweep.compare(config, runs, summaries), {})
    assert md.splitlines()[0].startswith("# ref — rows marked † use per-speaker normalisation (each speaker")
    assert "| m † | 6 |" in md and "| ref | 6 |" in md
    config.reference = "nope"
    with pytest.raises(SerJaxError, match="reference='nope' is not a variant"):
        sweep.expand(config, tmp_path)


@pytest.mark.parametrize("name", ["methods", "methods:paper", "paper_vs_strong", "paper_vs_strong:cpu", "table1", "dai",
                                  "pdt", "recipe_switches:dai", "recipe_switches:pdt", "recipe_switches:s"])
def test_every_sweep_file_expands_into_checked_runs(name, tmp_path):
    module, _, variant = name.partition(":")
    config = importlib.import_module(f"configs.sweeps.{module}").get_config(*([variant] if variant else []))
    runs = sweep.expand(config, tmp_path)  # each variant's config passes method.check
    assert len(runs) == len(config.variants) * len(config.seeds)


def test_paper_vs_strong_reuses_the_methods_sweeps_runs_and_trains_the_papers_settings(tmp_path):
    from configs import sac
    from configs.sweeps import methods, paper_vs_strong

    both = {(r.variant, r.seed): r for r in sweep.expand(paper_vs_strong.get_config(), tmp_path)}
    for run in sweep.expand(methods.get_config(), tmp_path):  # same folder, same settings: reused
        assert both[(run.variant, run.seed)].workdir == run.workdir
        assert rundir.flatten(both[(run.variant, run.seed)].config.to_dict()) == rundir.flatten(run.config.to_dict())
    paper = both[("S+A+C, paper", 0)].config
    expected = sac.get_config("paper")
    assert rundir.flatten(paper.to_dict()) == rundir.flatten(expected.to_dict())
    assert {v[0]: v[1] for v in paper_vs_strong.get_config().variants}["S+A+C"] == "S+A+C, paper"  # compared with it


def test_paper_vs_strong_cpu_puts_the_paper_recipes_on_the_strong_recipes_size(tmp_path):
    from configs import dai, pdt, sc
    from configs.sweeps import paper_vs_strong

    runs = {(r.variant, r.seed): r for r in sweep.expand(paper_vs_strong.get_config("cpu"), tmp_path)}
    small = runs[("S+C, paper recipe (64 bands, 32 kernels)", 0)].config
    expected = sc.get_config("paper")
    expected.features.n_mels, expected.model.parallel_cnn.channels = 64, 32  # the strong recipe's size, nothing else
    assert rundir.flatten(small.to_dict()) == rundir.flatten(expected.to_dict())
    baselines = {v[0]: v[1] for v in paper_vs_strong.get_config("cpu").variants}
    assert baselines["S+C"] == "S+C, paper recipe (64 bands, 32 kernels)"
    # the CNN + BiGRU's paper settings are the same network: unchanged, and the same folder as the default sweep's
    both = {(r.variant, r.seed): r for r in sweep.expand(paper_vs_strong.get_config(), tmp_path)}
    name = "CNN+BiGRU+center (001), paper"
    assert runs[(name, 0)].workdir == both[(name, 0)].workdir
    assert rundir.flatten(runs[(name, 0)].config.to_dict()) == rundir.flatten(dai.get_config("paper").to_dict())
    # the pairwise task's paper recipe on the strong recipe's crops, pairs and epochs: only the recipe differs
    name = "pairwise task + SVM (002), paper recipe (75th-percentile crops, 1 pair, 30 epochs)"
    pairwise = runs[(name, 0)].config
    expected = pdt.get_config("paper")
    expected.features.crop_seconds, expected.features.fixed_frames = 0.0, 0
    expected.train.crop_percentile, expected.signals.pairwise.pairs_per_utterance, expected.train.epochs = 75.0, 1.0, 30
    flat = rundir.flatten(pairwise.to_dict())
    assert flat == rundir.flatten(expected.to_dict())
    differ = {k for k, v in rundir.flatten(pdt.get_config().to_dict()).items() if flat[k] != v}
    assert {k.split(".")[0] for k in differ} == {"optim", "signals"}
    assert "signals.softmax.label_smoothing" in differ and "optim.learning_rate" in differ
    assert baselines["pairwise task + SVM (002)"] == name
    with pytest.raises(ValueError, match="choose one of"):
        paper_vs_strong.get_config("gpu")


def variant_names(module, argument):
    return [v[0] for v in module.get_config(argument).variants]


def test_recipe_switches_set_one_switch_back_to_the_papers_setting(tmp_path):
    from configs import dai, s
    from configs.sweeps import paper_vs_strong, recipe_switches

    runs = {(r.variant, r.seed): r for r in sweep.expand(recipe_switches.get_config("dai"), tmp_path)}
    strong, paper = (rundir.flatten(dai.get_config(v).to_dict()) for v in (None, "paper"))
    name = "CNN+BiGRU+center (001)"
    assert rundir.flatten(runs[(name, 0)].config.to_dict()) == strong
    assert rundir.flatten(runs[(f"{name}, paper", 0)].config.to_dict()) == paper
    covered = set()
    for switch, keys in (("optimiser", {"optim.name", "optim.schedule", "optim.warmup_steps", "optim.weight_decay"}),
                         ("label smoothing", {"signals.softmax.label_smoothing"}),
                         ("length grouping", {"train.group_by_length"})):
        flat = rundir.flatten(runs[(f"{name}, strong with the paper's {switch}", 0)].config.to_dict())
        assert {k for k in flat if flat[k] != strong[k]} == keys  # exactly this switch differs from strong ...
        assert all(flat[k] == paper[k] for k in keys)  # ... and takes the paper's values
        covered |= keys
    assert covered == {k for k in strong if strong[k] != paper[k]}  # the switches cover every difference
    assert {v[0]: v[1] for v in recipe_switches.get_config("dai").variants}[f"{name}, paper"] == name
    # same folders as paper_vs_strong's runs of the same settings (reused in its workdir)
    both = {(r.variant, r.seed): r for r in sweep.expand(paper_vs_strong.get_config(), tmp_path)}
    assert runs[(f"{name}, paper", 1)].workdir == both[(f"{name}, paper", 1)].workdir
    # 001's strong recipe keeps the paper's center-loss scale (chosen on validation): no such switch
    assert strong["signals.center.reduce"] == paper["signals.center.reduce"] == "sum"
    assert f"{name}, strong with the paper's center-loss scale" not in variant_names(recipe_switches, "dai")
    # S+C's strong recipe averages the center loss with a warm-up: its switch sets both back
    sc_runs = {r.variant: r for r in sweep.expand(recipe_switches.get_config("sc"), tmp_path) if r.seed == 0}
    flat, sc_strong = (rundir.flatten(sc_runs[v].config.to_dict())
                       for v in ("S+C, strong with the paper's center-loss scale", "S+C"))
    assert {k for k in flat if flat[k] != sc_strong[k]} == {"signals.center.reduce", "signals.center.warmup_steps"}
    # S has no center loss: no center-loss variant; its size and epochs are one switch
    assert "S, strong with the paper's center-loss scale" not in variant_names(recipe_switches, "s")
    flat = rundir.flatten(sweep.expand(recipe_switches.get_config("s"), tmp_path)[-1].config.to_dict())
    assert flat["features.n_mels"] == s.get_config("paper").features.n_mels and flat["optim.name"] == "adamw"
    with pytest.raises(ValueError, match="choose one of"):
        recipe_switches.get_config("sacc")
