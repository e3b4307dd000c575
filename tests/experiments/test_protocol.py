"""The experiment protocol (`ltlab.experiments.protocol`): bands, the template driver, and
every notebook driver of `full_size.DRIVERS` following the same shape.

The shape test fails for a driver that does not follow the protocol yet; its message names
the driver and what is missing."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math

import pytest

from ltlab.experiments import template
from ltlab.experiments.full_size import DRIVERS
from ltlab.experiments.protocol import (
    Band,
    FitOptions,
    assert_bands,
    failed_bands,
    one_seed,
    settings_dict,
)

DRIVER_MODULES = {**DRIVERS, "09_template": "ltlab.experiments.template"}


# ----------------------------------------------------------------------------- bands
def test_band_interval_margin_relation_and_whole_results():
    results = {"a": 0.5, "b": 0.45, "nested": {"x": 0.1, "y": 0.3}}
    assert failed_bands(results, [Band("a", low=0.4, high=0.6)]) == []
    assert failed_bands(results, [Band("a", high=0.45, reason="why")]) == [
        "a = 0.5 is above 0.45 (why)"]
    # a margin between two keys: a - b = 0.05
    assert failed_bands(results, [Band("a", minus="b", low=0.04)]) == []
    [problem] = failed_bands(results, [Band("a", minus="b", low=0.1)])
    assert problem.startswith("a - b = 0.05") and "below 0.1" in problem
    # dotted keys walk into nested results, test= holds a relation, "*" is every result
    assert failed_bands(results, [Band("nested.y", minus="nested.x", test=lambda d: d > 0)]) == []
    [problem] = failed_bands(results, [Band("*", test=lambda r: r["a"] < r["b"], reason="r")])
    assert problem == "the results fails its test (r)"
    assert failed_bands({"a": math.nan}, [Band("a", low=0)]) == ["a = nan is not a number"]
    with pytest.raises(KeyError, match="'missing'"):
        failed_bands(results, [Band("missing", low=0)])
    with pytest.raises(AssertionError, match="a = 0.5 is above 0.1"):
        assert_bands(results, [Band("a", high=0.1)])


def test_one_seed_takes_the_settings_seeds_or_exactly_one():
    s = template.settings()
    assert one_seed(s, None) == 0 and one_seed(s, (4,)) == 4
    with pytest.raises(ValueError, match="exactly one seed"):
        one_seed(s, [0, 1])
    with pytest.raises(ValueError, match="seeds"):
        one_seed(s, [-1])


# ----------------------------------------------------------------------------- the template
def test_template_runs_the_protocol_and_its_bands_hold():
    s = template.settings()
    result = template.compare(s, device="cpu")
    recorded = template.recorded_results(result)
    assert set(recorded) == {"balanced_accuracy_ce", "balanced_accuracy_la"}
    assert failed_bands(recorded, template.BANDS) == []  # quick mode, seed 0
    rows = result.rows()
    assert [r["method"] for r in rows] == ["ce", "la"]
    assert rows[1]["balanced_accuracy"] == recorded["balanced_accuracy_la"]
    # the settings are what runs: without the logit adjustment (tau = 0) LA is CE
    same = template.compare(dataclasses.replace(s, tau=0.0), device="cpu")
    assert same.balanced_accuracy["la"] == same.balanced_accuracy["ce"]
    assert same.balanced_accuracy["ce"] == result.balanced_accuracy["ce"]  # reproducible
    with pytest.raises(ValueError, match="workers"):
        template.compare(s, workers=0)
    with pytest.raises(ValueError, match="seeds"):
        template.compare(s, seeds=[])


def test_template_means_over_seeds():
    s = dataclasses.replace(template.settings(), fit=template.settings().fit.replace(epochs=5))
    two = template.compare(s, seeds=[0, 1], device="cpu")
    one = template.compare(s, seeds=[1], device="cpu")
    assert two.seeds == (0, 1) and two.balanced_accuracy["la"][1] == one.balanced_accuracy["la"][0]
    mean = template.recorded_results(two)["balanced_accuracy_ce"]
    assert mean == pytest.approx(sum(two.balanced_accuracy["ce"]) / 2)


# ----------------------------------------------------------------------------- every driver
def _has_fit_options(value) -> bool:
    if isinstance(value, FitOptions):
        return True
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_has_fit_options(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


@pytest.mark.parametrize("notebook", sorted(DRIVER_MODULES))
def test_driver_follows_the_protocol(notebook):
    driver = importlib.import_module(DRIVER_MODULES[notebook])
    name = driver.__name__
    assert getattr(driver, "NOTEBOOK", None) == notebook, f"{name}.NOTEBOOK"
    for quick in (True, False):
        s = driver.settings(quick)
        assert dataclasses.is_dataclass(s) and type(s).__dataclass_params__.frozen, \
            f"{name}.settings({quick}) must return a frozen dataclass (got {type(s).__name__})"
        assert _has_fit_options(s), f"{name}.settings({quick}) nests no FitOptions"
        settings_dict(s)  # plain data, for the settings hash
    params = inspect.signature(driver.compare).parameters
    assert list(params) == ["settings", "seeds", "device", "workers"], \
        f"{name}.compare{inspect.signature(driver.compare)}"
    assert params["settings"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for key, default in (("seeds", None), ("device", "auto"), ("workers", 1)):
        assert params[key].kind is inspect.Parameter.KEYWORD_ONLY, f"{name}.compare: {key}"
        assert params[key].default == default, f"{name}.compare: {key}={params[key].default!r}"
    assert len(inspect.signature(driver.recorded_results).parameters) == 1, \
        f"{name}.recorded_results(result)"
    for bands in ("BANDS", "FULL_BANDS"):
        value = getattr(driver, bands, None)
        assert value and all(isinstance(b, Band) for b in value), f"{name}.{bands}"
