"""`ltlab.logit_adjustment` and `ltlab.balpoe` forward their old names (one release) with a
DeprecationWarning that names the new place."""

from __future__ import annotations

import importlib

import pytest

OLD_NAMES = {
    "ltlab.logit_adjustment": {
        "METHODS": "ltlab.experiments.method_registry",
        "METHOD_LABELS": "ltlab.experiments.method_registry",
        "build_method": "ltlab.experiments.method_registry:make_method",
        "mnist_recipe": "ltlab.experiments.mnist1d_setup",
        "mnist_data": "ltlab.experiments.mnist1d_setup",
        "Trained": "ltlab.experiments.mnist1d_setup",
        "train_method": "ltlab.experiments.mnist1d_setup",
        "evaluate": "ltlab.experiments.mnist1d_setup",
        "LOSS_TABLE": "ltlab.experiments.logit_adjustment",
        "TAU_GRID": "ltlab.experiments.logit_adjustment",
        "compare_losses": "ltlab.experiments.logit_adjustment",
        "MixtureStudy": "ltlab.experiments.logit_adjustment",
        "mixture_setup": "ltlab.experiments.logit_adjustment",
        "train_mixture_model": "ltlab.experiments.logit_adjustment",
        "mixture_study": "ltlab.experiments.logit_adjustment",
        "mixture_errors": "ltlab.experiments.logit_adjustment",
        "check_balanced_rule": "ltlab.exercises.logit_adjustment",
        "check_la_loss": "ltlab.exercises.logit_adjustment",
    },
    "ltlab.balpoe": {
        "SHIFTS": "ltlab.experiments.balpoe",
        "TABLE2_MODELS": "ltlab.experiments.balpoe",
        "train_models": "ltlab.experiments.balpoe",
        "calibration_table": "ltlab.experiments.balpoe",
        "shifted_test_sets": "ltlab.experiments.balpoe",
        "shifted_accuracy": "ltlab.experiments.balpoe",
        "experts_curve": "ltlab.experiments.balpoe",
        "expert_marginals": "ltlab.experiments.balpoe",
        "recorded_results": "ltlab.experiments.balpoe:table_results",
        "check_ensemble_bias": "ltlab.exercises.balpoe",
        "check_expert_prior": "ltlab.exercises.balpoe",
    },
}
CASES = [(old, name, new) for old, names in OLD_NAMES.items() for name, new in names.items()]


@pytest.mark.parametrize("old, name, new", CASES, ids=[f"{o}.{n}" for o, n, _ in CASES])
def test_old_name_warns_and_is_the_new_object(old, name, new):
    module, _, new_name = new.partition(":")
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{new_name or name}"):
        got = getattr(importlib.import_module(old), name)
    assert got is getattr(importlib.import_module(module), new_name or name)


def test_old_two_argument_recorded_results_still_works():
    from ltlab.experiments.balpoe import BalPoEComparison, recorded_results

    table = {n: {"balanced_accuracy": 0.5, "ece": 0.1} for n in ("ce", "la", "balpoe", "balpoe_mixup")}
    shifted = {"uniform": {"no_prior": 0.5, "known_prior": 0.5}}
    with pytest.warns(DeprecationWarning):
        from ltlab.balpoe import recorded_results as old
    old_keys = old(table, shifted)
    new_keys = recorded_results(BalPoEComparison(table, shifted, curve=[]))
    assert new_keys == {**old_keys, "experts_curve": []}


def test_unknown_names_still_raise_attribute_error():
    import ltlab.balpoe
    import ltlab.logit_adjustment

    for mod in (ltlab.balpoe, ltlab.logit_adjustment):
        with pytest.raises(AttributeError):
            mod.no_such_name  # noqa: B018
