"""Where the old driver modules of notebooks 03 and 06 went (issue 27: one driver per notebook,
no forwards before 0.1.0): the old module paths are gone, every public name has a new home in
the notebook's driver package (or in `ltlab.metrics`), and the package re-exports the very
object of its submodule. The map is the one CHANGELOG gives."""

from __future__ import annotations

import importlib

import pytest

# ----------------------------------------------------------------------------- issue 27
#: Notebook 03's and 06's driver modules became one package each (no forwards before 0.1.0):
#: old module -> {old name: "new module:new name"}. The old modules are gone.
MOVED_DRIVERS = {
    "ltlab.experiments.flexda_arms": {
        "ARMS": "ltlab.experiments.flexda:ARMS",
        "ArmsComparison": "ltlab.experiments.flexda:ArmsComparison",
        "PseudoLabelMonitor": "ltlab.experiments.flexda:PseudoLabelMonitor",
        "bayes_balanced_accuracy": "ltlab.experiments.flexda:bayes_balanced_accuracy",
        "compare": "ltlab.experiments.flexda:compare_arms",
        "make_arm": "ltlab.experiments.flexda:make_arm",
        "noise_view": "ltlab.experiments.flexda:noise_view",
        "mean_interval": "ltlab.metrics:mean_interval",
        "paired_interval": "ltlab.metrics:paired_interval",
        "recorded_results": "ltlab.experiments.flexda:recorded_arms_results",
        "run_arm": "ltlab.experiments.flexda:run_arm",
        "settings": "ltlab.experiments.flexda:arms_settings",
    },
    "ltlab.experiments.flexda_toy": {
        "toy_data": "ltlab.experiments.flexda:toy_data",
        "toy_regions": "ltlab.experiments.flexda:toy_regions",
    },
    "ltlab.experiments.gh_sphere": {
        "ARMS": "ltlab.experiments.gh:ARMS",
        "METRICS": "ltlab.experiments.gh:METRICS",
        "SphereComparison": "ltlab.experiments.gh:SphereComparison",
        "SphereRun": "ltlab.experiments.gh:SphereRun",
        "compare": "ltlab.experiments.gh:compare_sphere",
        "gaussian_view": "ltlab.experiments.gh:gaussian_view",
        "matched_class_prior": "ltlab.experiments.gh:matched_class_prior",
        "paired_interval": "ltlab.metrics:paired_interval",
        "recorded_results": "ltlab.experiments.gh:recorded_sphere_results",
        "run_seed": "ltlab.experiments.gh:run_seed",
        "settings": "ltlab.experiments.gh:sphere_settings",
        "sphere_toy_data": "ltlab.experiments.gh:sphere_toy_data",
    },
}
MOVED_CASES = [(old, name, new) for old, names in MOVED_DRIVERS.items()
               for name, new in names.items()]


@pytest.mark.parametrize("old", sorted(MOVED_DRIVERS))
def test_old_driver_modules_are_gone(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


@pytest.mark.parametrize("old, name, new", MOVED_CASES, ids=[f"{o}.{n}" for o, n, _ in MOVED_CASES])
def test_moved_driver_names_live_in_the_driver_package(old, name, new):
    module, _, new_name = new.partition(":")
    package = importlib.import_module(module)
    got = getattr(package, new_name)
    if module.startswith("ltlab.experiments."):
        assert new_name in package.__all__
    if module.startswith("ltlab.experiments.") and hasattr(got, "__module__"):
        # the package re-exports its submodule's object, not a copy
        home = importlib.import_module(got.__module__)
        assert home.__name__.startswith(module + ".") and getattr(home, new_name) is got
