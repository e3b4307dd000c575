"""Calibration metrics, post-hoc scaling, label-shift calibration, figures and panels of
notebook 04 (`ltlab.calibration`, `ltlab.viz.calibration`, `ltlab.widgets.calibration`)."""

from __future__ import annotations

import math

import pytest
import torch

from ltlab.calibration import (
    MODEL_NAMES,
    SHIFT_SETTINGS,
    LogitScaling,
    ModelZoo,
    adaptive_calibration_error,
    calibration_error_split,
    check_ece_by_hand,
    check_prior_correction,
    evaluate_zoo,
    exercise_predictions,
    fit_bias_corrected_temperature,
    fit_vector_scaling,
    label_shift_sweep,
    overconfidence_error,
    per_class_calibration_error,
    prior_for_setting,
    recorded_results,
    shifted_calibration,
    shot_calibration_gap,
    split_balanced,
    train_model_zoo,
)
from ltlab.data import GaussianMixtureLT, LTData
from ltlab.metrics import (
    classwise_calibration_error,
    expected_calibration_error,
    fit_temperature,
    maximum_calibration_error,
    negative_log_likelihood,
)


def two_class(confidences, correct):
    """Two-class probabilities whose top-label confidence and correctness are given."""
    conf = torch.tensor(confidences, dtype=torch.float64)
    probs = torch.stack([conf, 1 - conf], dim=1)
    targets = torch.tensor([0 if c else 1 for c in correct])
    return probs, targets


def ece_left_closed(probs, targets, n_bins=10):
    """An independent ECE with the [lo, hi) bins of torchmetrics-style libraries (1.0 goes
    to the last bin), written directly from the definition."""
    conf, pred = probs.max(1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        mask = (conf >= lo) & ((conf < hi) if b < n_bins - 1 else (conf <= hi))
        if mask.any():
            acc = (pred[mask] == targets[mask]).double().mean()
            total += float(mask.sum()) * abs(float(acc - conf[mask].mean()))
    return total / conf.numel()


# ----------------------------------------------------------------------------- ECE / MCE / ACE
def test_ece_and_mce_by_hand():
    # 10 bins of width 0.1: (0.5, 0.6] holds .55 (correct) and .58 (wrong): acc .5, conf .565
    # (0.9, 1.0] holds .95 and .97 (both correct): acc 1, conf .96
    probs, y = two_class([0.55, 0.58, 0.95, 0.97], [True, False, True, True])
    ece = (2 * abs(0.5 - 0.565) + 2 * abs(1 - 0.96)) / 4
    assert expected_calibration_error(probs, y, 10) == pytest.approx(ece)
    assert maximum_calibration_error(probs, y, 10) == pytest.approx(0.065)
    assert adaptive_calibration_error(probs, y, 2) == pytest.approx(ece)  # same two bins here


def test_all_confidences_one():
    probs = torch.eye(3)[[0, 1, 2, 0]]  # one-hot rows: confidence exactly 1.0
    y = torch.tensor([0, 1, 0, 0])  # one mistake
    # (lo, hi]: 1.0 is in the last bin, accuracy 3/4 there
    assert expected_calibration_error(probs, y, 15) == pytest.approx(0.25)
    assert maximum_calibration_error(probs, y, 15) == pytest.approx(0.25)
    assert adaptive_calibration_error(probs, y, 15) == pytest.approx(0.25)
    # class-wise: every p_c is 0 or 1, the 0s are in the first bin with frequency of y = c
    # 0 or 1 -> errors come only from the mistake (row 2 puts 1 on class 2, label is 0)
    assert classwise_calibration_error(probs, y, 15) == pytest.approx((0.25 + 0.0 + 0.25) / 3 * 1)


def test_all_zero_probabilities_go_to_the_first_bin():
    # a top-label confidence is at least 1/C, so only class-wise errors see p = 0;
    # with every p_c in {0, 1} and all predictions right, they are 0 exactly
    probs = torch.eye(4)
    y = torch.arange(4)
    assert classwise_calibration_error(probs, y, 10) == 0.0
    assert expected_calibration_error(probs, y, 10) == 0.0


def test_single_sample():
    probs, y = two_class([0.7], [False])
    for n_bins in (1, 5, 15):
        assert expected_calibration_error(probs, y, n_bins) == pytest.approx(0.7)
        assert adaptive_calibration_error(probs, y, n_bins) == pytest.approx(0.7)
        assert maximum_calibration_error(probs, y, n_bins) == pytest.approx(0.7)


def test_empty_bins_do_not_count():
    probs, y = two_class([0.62, 0.93], [True, False])  # 13 of 15 bins are empty
    assert expected_calibration_error(probs, y, 15) == pytest.approx((0.38 + 0.93) / 2)
    assert maximum_calibration_error(probs, y, 15) == pytest.approx(0.93)
    # more equal-mass bins than samples: every sample is its own bin
    assert adaptive_calibration_error(probs, y, 15) == pytest.approx((0.38 + 0.93) / 2)


def test_adaptive_bins_hold_equal_mass():
    # 6 samples, 3 equal-mass bins: {.55,.6} {.7,.75} {.9,.95}, whatever the bin edges
    probs, y = two_class([0.9, 0.55, 0.75, 0.6, 0.95, 0.7],
                         [True, False, True, True, False, True])
    by_hand = (abs(0.5 - 0.575) * 2 + abs(1.0 - 0.725) * 2 + abs(0.5 - 0.925) * 2) / 6
    assert adaptive_calibration_error(probs, y, 3) == pytest.approx(by_hand)
    # 7 samples into 3 bins: sizes 3, 2, 2
    probs, y = two_class([0.51, 0.52, 0.53, 0.8, 0.81, 0.9, 0.91],
                         [True, True, True, False, False, True, True])
    by_hand = (abs(1 - 0.52) * 3 + abs(0 - 0.805) * 2 + abs(1 - 0.905) * 2) / 7
    assert adaptive_calibration_error(probs, y, 3) == pytest.approx(by_hand)


def test_binning_convention_differs_from_left_closed_bins():
    """(lo, hi] (ltlab, BalPoE) against [lo, hi) (torchmetrics and others), 10 bins, on the
    same predictions: confidences sitting exactly on an edge change bins."""
    probs, y = two_class([0.6, 0.6, 0.65, 0.8, 0.8, 0.85], [True, True, False, False, False, True])
    ours = expected_calibration_error(probs, y, 10)
    theirs = ece_left_closed(probs, y, 10)
    # (lo, hi]: (.5,.6] {.6,.6} acc 1; (.6,.7] {.65} acc 0; (.7,.8] {.8,.8} acc 0; (.8,.9] {.85} acc 1
    by_hand_ours = (2 * 0.4 + 0.65 + 2 * 0.8 + 0.15) / 6
    # [lo, hi): [.6,.7) {.6,.6,.65} acc 2/3; [.8,.9) {.8,.8,.85} acc 1/3
    by_hand_theirs = (3 * abs(2 / 3 - 0.6167) + 3 * abs(1 / 3 - 0.8167)) / 6
    assert ours == pytest.approx(by_hand_ours)
    assert theirs == pytest.approx(by_hand_theirs, abs=1e-3)
    assert abs(ours - theirs) > 0.2
    # away from the edges both conventions agree
    g = torch.Generator().manual_seed(0)
    probs = torch.randn(500, 5, generator=g, dtype=torch.float64).mul(2).softmax(1)
    y = torch.randint(0, 5, (500,), generator=g)
    assert expected_calibration_error(probs, y, 10) == pytest.approx(ece_left_closed(probs, y, 10))


def test_split_adds_up_to_ece_and_oe_by_hand():
    g = torch.Generator().manual_seed(1)
    probs = torch.randn(400, 6, generator=g).mul(3).softmax(1)
    y = torch.randint(0, 6, (400,), generator=g)
    split = calibration_error_split(probs, y, 15)
    assert split["over"] + split["under"] == pytest.approx(expected_calibration_error(probs, y, 15))
    assert split["over"] > 0.3 and split["under"] < 0.05  # random labels: over-confident
    probs, y = two_class([0.55, 0.58, 0.95, 0.97], [True, False, True, True])
    split = calibration_error_split(probs, y, 10)
    assert split == pytest.approx({"over": 2 * 0.065 / 4, "under": 2 * 0.04 / 4})
    assert overconfidence_error(probs, y, 10) == pytest.approx(2 / 4 * 0.565 * 0.065)


def test_per_class_and_group_calibration_by_predicted_and_true_class():
    # class 0 (head) predicted for everything with confidence .9; half are really class 1
    probs = torch.tensor([[0.9, 0.05, 0.05]] * 4 + [[0.2, 0.2, 0.6]] * 2, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    by_pred = per_class_calibration_error(probs, y, 10, by="predicted")
    assert by_pred[0] == pytest.approx(0.4) and math.isnan(by_pred[1])
    assert by_pred[2] == pytest.approx(0.4)  # .6 confidence, always right: under-confident
    by_true = per_class_calibration_error(probs, y, 10, by="true")
    assert by_true.tolist()[:2] == pytest.approx([0.1, 0.9])
    counts = torch.tensor([500, 50, 5])  # many, medium, few
    gap = shot_calibration_gap(probs, y, counts, 10, by="predicted")
    assert gap["many"]["gap"] == pytest.approx(0.4) and gap["many"]["count"] == 4
    assert gap["few"]["gap"] == pytest.approx(-0.4)
    assert gap["medium"]["count"] == 0 and math.isnan(gap["medium"]["ece"])
    gap = shot_calibration_gap(probs, y, counts, 10, by="true")
    assert gap["medium"]["gap"] == pytest.approx(0.9) and gap["medium"]["count"] == 2


# ----------------------------------------------------------------------------- bad input
METRICS = [expected_calibration_error, maximum_calibration_error, adaptive_calibration_error,
           overconfidence_error, calibration_error_split, per_class_calibration_error]


@pytest.mark.parametrize("metric", METRICS)
def test_bad_inputs_raise_clear_errors(metric):
    good = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metric(torch.tensor([[1.5, -0.5], [0.4, 0.6]]), y)
    with pytest.raises(ValueError, match="sum to 1"):
        metric(torch.tensor([[0.7, 0.7], [0.4, 0.6]]), y)
    with pytest.raises(ValueError, match="lengths must match"):
        metric(good, torch.tensor([0, 1, 1]))
    for n_bins in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_bins"):
            metric(good, y, n_bins)


def test_other_argument_errors():
    probs, y = two_class([0.7, 0.8], [True, False])
    with pytest.raises(ValueError, match="by must be"):
        per_class_calibration_error(probs, y, by="label")
    with pytest.raises(ValueError, match="by must be"):
        shot_calibration_gap(probs, y, [10, 1], by="label")
    with pytest.raises(ValueError, match="forward-50"):
        prior_for_setting("sideways-5", 10)
    with pytest.raises(ValueError, match="rho >= 1"):
        prior_for_setting("forward-0.5", 10)
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_vector_scaling(torch.tensor([[math.nan, 0.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"shape \[N, 3\]"):
        LogitScaling(torch.ones(3), torch.zeros(3))(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="fraction"):
        split_balanced(torch.arange(4), 1.0)


# ----------------------------------------------------------------------------- scaling
def _labels_from(logits: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(logits.softmax(1), 1, generator=g).flatten()


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(10000, 10, generator=g, dtype=torch.float64) * 3
    y = _labels_from(z / true_t, seed=4)  # labels drawn at temperature true_t
    assert fit_temperature(z, y) == pytest.approx(true_t, rel=0.05)


def test_vector_scaling_and_bcts_recover_known_parameters():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(30000, 4, generator=g, dtype=torch.float64) * 2
    w0 = torch.tensor([0.5, 1.0, 1.5, 0.8], dtype=torch.float64)
    b0 = torch.tensor([0.6, -0.2, 0.0, -0.4], dtype=torch.float64)
    vs = fit_vector_scaling(z, _labels_from(z * w0 + b0, seed=6))
    assert vs.weight.double() == pytest.approx(w0, abs=0.06)
    assert vs.bias.double() == pytest.approx(b0 - b0.mean(), abs=0.06)
    assert math.isnan(vs.temperature) and vs.kind == "vector"
    bcts = fit_bias_corrected_temperature(z, _labels_from(z / 2.0 + b0, seed=7))
    assert bcts.temperature == pytest.approx(2.0, rel=0.05)
    assert bcts.bias.double() == pytest.approx(b0 - b0.mean(), abs=0.06)
    p = bcts.probs(z)
    assert p.shape == z.shape and torch.allclose(p.sum(1), torch.ones(len(z), dtype=p.dtype))


def test_scalings_lower_held_out_nll_of_a_miscalibrated_model():
    g = torch.Generator().manual_seed(8)
    z = torch.randn(8000, 5, generator=g, dtype=torch.float64) * 2
    y = _labels_from(z / 3 + torch.tensor([1.0, 0, 0, 0, -1.0], dtype=torch.float64), seed=9)
    fit_half, test_half = slice(0, 4000), slice(4000, None)
    before = negative_log_likelihood(z[test_half].softmax(1), y[test_half])
    t = fit_temperature(z[fit_half], y[fit_half])
    after_t = negative_log_likelihood((z[test_half] / t).softmax(1), y[test_half])
    bcts = fit_bias_corrected_temperature(z[fit_half], y[fit_half])
    after_bcts = negative_log_likelihood(bcts.probs(z[test_half]), y[test_half])
    assert after_bcts < after_t < before


# ----------------------------------------------------------------------------- label shift
def test_em_restores_calibration_under_label_shift():
    gm = GaussianMixtureLT(num_classes=6, dim=2, radius=2.0, seed=0)
    uniform = torch.full((6,), 1 / 6)
    x, y = gm.sample_counts([400] * 6, seed=1)
    probs = gm.bayes_posterior(x, uniform)  # exactly calibrated for a balanced test set
    for setting in ("forward-50", "backward-50"):
        out = shifted_calibration(probs, y, setting)  # 5 EM steps, the default
        assert out["targets"].numel() == out["index"].numel() < probs.shape[0]
        # label shift breaks calibration (seen class-wise and in the NLL) and EM restores it
        assert out["classwise_ece_before"] > 2 * out["classwise_ece_after"]
        assert out["classwise_ece_oracle"] < out["classwise_ece_before"] / 2
        assert out["nll_after"] < out["nll_before"] - 0.15
        assert out["accuracy_after"] > out["accuracy_before"]
        # exact posteriors and a few hundred samples: EM run to convergence finds the prior
        out = shifted_calibration(probs, y, setting, em_iterations=1000)
        assert (out["em_prior"] - out["true_prior"]).abs().max() < 0.04
        assert out["classwise_ece_after"] < 1.2 * out["classwise_ece_oracle"]
        # at the EM fixed point the mean adapted posterior is the estimated prior
        assert torch.allclose(out["mean_probs_after"].float(), out["em_prior"], atol=1e-4)
    # one EM step estimates the prior by the mean posterior
    one = shifted_calibration(probs, y, "forward-50", em_iterations=1)
    mean_posterior = probs[one["index"]].double().mean(0)
    assert torch.allclose(one["em_prior"].double(), mean_posterior, atol=1e-5)
    sweep = label_shift_sweep(probs, y, ("backward-50", "uniform", "forward-50"),
                              em_iterations=1000)
    assert sweep["uniform"]["classwise_ece_before"] < 0.03
    assert sweep["uniform"]["nll_after"] == pytest.approx(sweep["uniform"]["nll_before"], abs=0.01)


def test_prior_for_setting_names():
    p = prior_for_setting("forward-50", 10)
    assert p[0] / p[-1] == pytest.approx(50, rel=1e-4)
    assert torch.allclose(prior_for_setting("backward-50", 10), p.flip(0))
    assert torch.allclose(prior_for_setting("uniform", 4), torch.full((4,), 0.25))
    assert all(prior_for_setting(s, 10).sum() == pytest.approx(1) for s in SHIFT_SETTINGS)


def test_split_balanced_is_a_per_class_partition():
    y = torch.arange(10).repeat_interleave(20)
    a, b = split_balanced(y, 0.5, seed=3)
    assert torch.bincount(y[a]).tolist() == [10] * 10
    assert sorted(torch.cat([a, b]).tolist()) == list(range(200))


# ----------------------------------------------------------------------------- exercises
def test_exercise_checkers(capsys):
    assert check_ece_by_hand(None) is False
    assert "Not answered" in capsys.readouterr().out
    p, y = exercise_predictions()
    # (0.75, 1]: .95, .85, both right; (0.5, 0.75]: .75 (on the edge), .65, .55, .60 with
    # two right
    by_hand = 2 / 6 * abs(1 - 0.9) + 4 / 6 * abs(0.5 - (0.75 + 0.65 + 0.55 + 0.60) / 4)
    assert check_ece_by_hand(by_hand) is True
    assert check_ece_by_hand(by_hand + 0.05) is False
    assert check_prior_correction(None) is False

    def right(p, ps, pt):
        q = p * pt / ps
        return q / q.sum(1, keepdim=True)

    def upside_down(p, ps, pt):
        q = p * ps / pt
        return q / q.sum(1, keepdim=True)

    assert check_prior_correction(right) is True
    assert check_prior_correction(upside_down) is False
    assert check_prior_correction(lambda p, ps, pt: p * pt / ps) is False
    assert "sum to 1" in capsys.readouterr().out


# ----------------------------------------------------------------------------- panels
@pytest.fixture(scope="module")
def fake_zoo():
    """A zoo of random logits (no training): head-biased and sharpened for some models."""
    g = torch.Generator().manual_seed(0)
    counts = torch.tensor([400, 200, 90, 40, 20, 10, 4])
    c = counts.numel()
    y_test = torch.arange(c).repeat_interleave(40)
    data = LTData(torch.zeros(counts.sum().item(), 3), torch.zeros(counts.sum().item(), dtype=torch.long),
                  torch.zeros(len(y_test), 3), y_test, counts, [str(i) for i in range(c)])
    val, test = split_balanced(y_test, 0.5, seed=0)
    logits = {}
    for k, name in enumerate(MODEL_NAMES):
        z = torch.randn(len(y_test), c, generator=g) + 3 * torch.nn.functional.one_hot(y_test, c)
        z = z + (2 - k / 2) * torch.log(counts / counts.sum())  # head bias fading along the list
        logits[name] = {"val": z[val] * (3 - k / 2), "test": z[test] * (3 - k / 2)}
    return ModelZoo(data, val, test, logits)


def test_calibration_panel_follows_its_controls(fake_zoo):
    from ltlab.widgets.calibration import calibration_panel

    panel = calibration_panel(fake_zoo, interactive=True)
    import plotly.graph_objects as go

    assert isinstance(panel.figure, go.FigureWidget)

    def snapshot():
        return [list(t.y) for t in panel.figure.data], panel.figure.layout.title.text

    before = snapshot()
    panel.controls["temperature"].value = 2.0
    after_t = snapshot()
    assert after_t != before and "T = 2.00" in after_t[1]
    panel.controls["model"].value = "balpoe_mixup"
    after_model = snapshot()
    assert after_model != after_t and "BalPoE + mixup" in after_model[1]
    panel.controls["n_bins"].value = 5
    assert len(panel.figure.data[0].x) == 5 and panel.updates == 3
    with pytest.raises(ValueError, match="model must be one of"):
        calibration_panel(fake_zoo, model="svm")


def test_label_shift_panel_follows_its_slider():
    from ltlab.widgets.calibration import label_shift_panel

    gm = GaussianMixtureLT(num_classes=5, dim=2, radius=2.0, seed=0)
    x, y = gm.sample_counts([100] * 5, seed=1)
    probs = gm.bayes_posterior(x, torch.full((5,), 0.2))
    panel = label_shift_panel(probs, y, setting="uniform", interactive=True)
    titles = [panel.figure.layout.title.text]
    prior = list(panel.figure.data[0].y)
    after_em = list(panel.figure.data[2].y)
    panel.controls["setting"].value = "backward-50"
    titles.append(panel.figure.layout.title.text)
    assert "backward-50" in titles[1] and titles[0] != titles[1]
    assert list(panel.figure.data[0].y) != prior  # the true test prior bars
    assert list(panel.figure.data[2].y) != after_em  # the EM-adapted mean prediction
    static = label_shift_panel(probs, y, interactive=False)
    assert "forward-10" in static.figure.layout.title.text


def test_static_figures(fake_zoo):
    from ltlab.viz import (
        calibration_overview,
        calibration_table_figure,
        label_shift_sweep_figure,
        shot_calibration_figure,
    )

    ev = evaluate_zoo(fake_zoo, n_bins=10)
    table = calibration_table_figure(ev)
    assert list(table.data[0].cells.values[0]) == ["CE", "CE + mixup", "LA", "BalPoE",
                                                   "BalPoE + mixup"]
    assert table.data[0].cells.values[1][0] == f"{100 * ev['ce']['ece']:.1f}"
    fig = shot_calibration_figure({m: ev[m]["groups"] for m in ev})
    assert len(fig.data) == 5 and list(fig.data[0].x) == ["many", "medium", "few"]
    fig = calibration_overview(fake_zoo.probs("ce"), fake_zoo.y_test, fake_zoo.train_counts, 10)
    assert f"ECE {100 * ev['ce']['ece']:.1f}%" in fig.layout.title.text
    assert sum(fig.data[3].y) == len(fake_zoo.y_test)  # the confidence histogram
    gm = GaussianMixtureLT(num_classes=5, dim=2, radius=2.0, seed=0)
    x, y = gm.sample_counts([100] * 5, seed=1)
    sweep = label_shift_sweep(gm.bayes_posterior(x, torch.full((5,), 0.2)), y)
    fig = label_shift_sweep_figure(sweep)
    assert list(fig.data[0].x) == list(SHIFT_SETTINGS)
    with pytest.raises(ValueError, match="metric must be"):
        shot_calibration_figure({}, metric="nll")


def test_evaluate_zoo_and_recorded_keys(fake_zoo):
    ev = evaluate_zoo(fake_zoo, n_bins=15)
    rec = recorded_results(ev)
    assert set(rec) == {"ece", "balanced_accuracy", "nll_before_after_temperature"}
    assert set(rec["ece"]) == set(MODEL_NAMES)
    for m in MODEL_NAMES:
        before, after = rec["nll_before_after_temperature"][m]
        assert after < before  # the fake models are all over-confident
        assert ev[m]["over"] + ev[m]["under"] == pytest.approx(ev[m]["ece"])


def test_metrics_reexports_calibration_names():
    import ltlab.metrics as metrics

    assert metrics.adaptive_calibration_error is adaptive_calibration_error
    assert metrics.fit_bias_corrected_temperature is fit_bias_corrected_temperature


# ----------------------------------------------------------------------------- targets
@pytest.mark.parametrize("seed", [1])
def test_zoo_targets_hold_for_other_seeds(seed):
    """Issue 5's targets, quick mode, on a seed other than the notebook's (about 40 s of
    CPU time; seeds 2, 3 and 4 passed too when this was written: add them when time allows)."""
    zoo = train_model_zoo(seed=seed, quick=True, device="cpu")
    ev = evaluate_zoo(zoo)
    assert ev["balpoe_mixup"]["ece"] <= 0.5 * ev["ce"]["ece"]
    assert ev["balpoe_mixup"]["balanced_accuracy"] > ev["ce"]["balanced_accuracy"]
    for m in MODEL_NAMES:
        t, before, after = ev[m]["temperature"], ev[m]["nll"], ev[m]["nll_temperature"]
        if abs(math.log(t)) > 0.2:  # clearly miscalibrated: the fitted temperature must help
            assert after < before, (m, t, before, after)
        else:  # near-calibrated: the held-out NLL moves within noise
            assert after < before + 0.02, (m, t, before, after)
    assert ev["ce"]["temperature"] > 2  # long-tailed CE is over-confident


def test_zoo_workers_give_the_same_logits_as_one_thread():
    """Two worker processes (one thread each) reproduce a one-thread sequential run."""
    kwargs = dict(seed=3, quick=True, device="cpu", models=("ce", "balpoe_mixup"), epochs=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = train_model_zoo(**kwargs)
    finally:
        torch.set_num_threads(threads)
    pooled = train_model_zoo(workers=2, **kwargs)
    for name in kwargs["models"]:
        for part in ("val", "test"):
            torch.testing.assert_close(pooled.logits[name][part], alone.logits[name][part],
                                       rtol=0, atol=0)
    with pytest.raises(ValueError, match="workers"):
        train_model_zoo(workers=0, **kwargs)
