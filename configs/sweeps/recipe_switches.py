"""One method's strong recipe with one switch at a time set back to the paper's setting, beside
the strong recipe, the paper's settings and the eGeMAPS + SVM reference (EmoDB,
leave-one-speaker-out, 3 seeds). It answers which of the strong recipe's switches a difference
between the two recipes comes from; choose on the validation UA (the `val UA` column), never on test.

    python run.py --config configs/sweeps/recipe_switches.py:dai --workdir workdir/dai_switches --mode=sweep

The argument names the method's config module (s, sa, sc, sac, dai, pdt; default dai). The
settings that differ between `configs/<m>.py:paper` and `configs/<m>.py` are grouped into the
switches of SWITCHES; a switch with no differing key for that method has no variant. Each
variant "<method>, strong with the paper's <switch>" is compared fold by fold with the strong
recipe (ΔUA, Wilcoxon p). The strong and paper variants carry the names of
configs/sweeps/paper_vs_strong.py, so its finished runs are reused in the same workdir.
"""

import ml_collections

from configs import egemaps_svm, s
from configs.sweeps import methods
from ser_jax import rundir
from ser_jax import sweep as sweeps

# (switch, the config keys it covers: a key is covered when it starts with one of the prefixes);
# keys no switch covers form the last one, "size and length of training"
SWITCHES = (("optimiser", ("optim.",)),
            ("label smoothing", ("signals.softmax.label_smoothing",)),
            ("center-loss scale", ("signals.center.reduce", "signals.center.warmup_steps")),
            ("length grouping", ("train.group_by_length",)))
REST = "size and length of training"


def switches(paper, strong) -> list[tuple[str, dict]]:
    """(switch, {key: the paper's value}) for each switch with a key where the two configs differ,
    leaving out the keys of a training signal both configs leave off (weight 0)."""
    old, new = rundir.flatten(paper), rundir.flatten(strong)

    def active(key):
        parts = key.split(".")
        return parts[0] != "signals" or old[f"signals.{parts[1]}.weight"] or new[f"signals.{parts[1]}.weight"]

    differing = [k for k in sweeps.changed_keys(old, new) if active(k)]
    out = []
    for switch, prefixes in SWITCHES:
        keys = [k for k in differing if k.startswith(prefixes)]
        differing = [k for k in differing if k not in keys]
        if keys:
            out.append((switch, {k: old[k] for k in keys}))
    if differing:
        out.append((REST, {k: old[k] for k in differing}))
    return out


def get_config(module_name=None):
    module_name = module_name or "dai"
    named = {module.__name__.rsplit(".", 1)[-1]: (name, module) for name, _, module in methods.METHODS}
    if module_name not in named:
        raise ValueError(f"configs/sweeps/recipe_switches.py:{module_name}: choose one of {tuple(named)}")
    name, module = named[module_name]
    paper, strong = module.get_config("paper"), module.get_config()
    sweep = ml_collections.ConfigDict()
    sweep.title = f"EmoDB, leave-one-speaker-out: {name}'s strong recipe, one switch at a time at the paper's setting"
    sweep.base = s.get_config()
    sweep.seeds = (0, 1, 2)
    sweep.only = ()
    sweep.reference = methods.REFERENCE
    between = lambda config: sweeps.settings_between(sweep.base, config)  # noqa: E731
    variants = [(methods.REFERENCE, "", between(egemaps_svm.get_config())),
                (name, "", between(strong)), (f"{name}, paper", name, between(paper))]
    for switch, values in switches(paper, strong):
        config = module.get_config()
        config.update_from_flattened_dict(values)
        variants.append((f"{name}, strong with the paper's {switch}", name, between(config)))
    sweep.variants = tuple(variants)
    sweep.curves = ()
    sweep.embedding_figures = False
    sweep.ensemble = True
    return sweep
