"""Post-hoc logit scaling (`ltlab.metrics.scaling`): temperature, vector and bias-corrected
temperature scaling, all fitted by one L-BFGS routine.

The golden numbers below were recorded from the code *before* the three L-BFGS fits were
merged into `ltlab.metrics.scaling` (issue 13): `metrics.fit_temperature` (lr 0.5),
`label_shift.fit_bias_corrected_temperature` (lr 0.5) and the `LogitScaling` fits of
`metrics.calibration` (lr 1.0). The merged fit uses lr 0.5 everywhere, so the first two are
unchanged to the last bit; the `LogitScaling` fits moved: BCTS by 4.6e-5 in T and 7.1e-5 in
the biases, vector scaling by 2.8e-5 in the weights and 3.4e-5 in the biases (both runs stop
within L-BFGS's tolerance of the same optimum; the BCTS NLLs differ by 2e-10).
"""

from __future__ import annotations

import math

import pytest
import torch

from ltlab.label_shift import calibrated_probs
from ltlab.metrics import (
    LogitScaling,
    fit_bias_corrected_temperature,
    fit_temperature,
    fit_vector_scaling,
    negative_log_likelihood,
)


def golden_input() -> tuple[torch.Tensor, torch.Tensor]:
    """600 float32 logits of 5 classes, labels drawn at temperature 2 with class biases."""
    g = torch.Generator().manual_seed(13)
    z = torch.randn(600, 5, generator=g) * 3 + torch.tensor([1.0, 0.5, 0.0, -0.5, -1.0])
    p = (z / 2.0 + torch.tensor([0.4, 0.0, -0.2, 0.1, -0.3])).softmax(1)
    y = torch.multinomial(p, 1, generator=g).flatten()
    return z, y


# recorded from the pre-merge code (see the module docstring)
GOLDEN_T = 1.9952453359925015
GOLDEN_PAIR_T = 1.991420458939515
GOLDEN_PAIR_BIAS = [0.40723738074302673, -0.04597632959485054, -0.20114003121852875,
                    0.21441225707530975, -0.3745332658290863]
GOLDEN_BCTS_T = 1.991374135017395  # metrics' BCTS before the merge (lr 1.0)
GOLDEN_BCTS_BIAS = [0.4072244465351105, -0.0459674596786499, -0.20112955570220947,
                    0.21447691321372986, -0.37460434436798096]
GOLDEN_VS_WEIGHT = [0.5383203029632568, 0.5162205696105957, 0.45209211111068726,
                    0.4913179278373718, 0.5061340928077698]
GOLDEN_VS_BIAS = [0.3376111686229706, -0.07487340271472931, -0.0999254509806633,
                  0.22200928628444672, -0.3848215937614441]


def test_golden_temperature_and_label_shift_pair_are_unchanged():
    z, y = golden_input()
    assert fit_temperature(z, y) == pytest.approx(GOLDEN_T, rel=1e-12)
    scaling = fit_bias_corrected_temperature(z, y)  # the pair is its (.temperature, .bias)
    t, bias = scaling.temperature, scaling.bias
    assert isinstance(t, float) and bias.dtype == torch.float32
    assert t == pytest.approx(GOLDEN_PAIR_T, rel=1e-12)
    assert bias.tolist() == pytest.approx(GOLDEN_PAIR_BIAS, abs=1e-7)


def test_golden_logit_scaling_fits_within_the_optimiser_tolerance():
    z, y = golden_input()
    bcts = fit_bias_corrected_temperature(z, y)
    assert bcts.kind == "bcts"
    assert bcts.temperature == pytest.approx(GOLDEN_BCTS_T, abs=1e-4)
    assert bcts.bias.tolist() == pytest.approx(GOLDEN_BCTS_BIAS, abs=1e-4)
    vs = fit_vector_scaling(z, y)
    assert vs.weight.tolist() == pytest.approx(GOLDEN_VS_WEIGHT, abs=1e-4)
    assert vs.bias.tolist() == pytest.approx(GOLDEN_VS_BIAS, abs=1e-4)


def test_one_bias_corrected_temperature_applied_by_label_shift():
    """`label_shift.calibrated_probs` applies `metrics`' BCTS fit: given the `LogitScaling`
    itself or its ``(T, b)``, bit for bit the same, and like `LogitScaling.probs`."""
    import ltlab.label_shift as label_shift

    assert not hasattr(label_shift, "fit_bias_corrected_temperature")  # one public fit
    z, y = golden_input()
    scaling = fit_bias_corrected_temperature(z, y)
    t, bias = scaling.temperature, scaling.bias
    assert torch.equal(calibrated_probs(z, scaling), calibrated_probs(z, t, bias))
    by_hand = torch.softmax(z.double() / t + bias.double(), 1).float()
    assert torch.equal(calibrated_probs(z, scaling), by_hand)
    # the two ways of applying it agree (float64 vs float32 arithmetic)
    torch.testing.assert_close(calibrated_probs(z, t, bias), scaling.probs(z), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="bias must be None"):
        calibrated_probs(z, scaling, bias)


# ----------------------------------------------------------------------------- recovery
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


def test_logit_scaling_by_hand():
    s = LogitScaling(torch.tensor([0.5, 0.5]), torch.tensor([1.0, -1.0]), "bcts")
    assert s.temperature == 2.0
    out = s(torch.tensor([[2.0, 4.0]]))
    assert out.tolist() == [[2.0, 1.0]]  # [2, 4] / 2 + [1, -1]
    assert s.probs(torch.tensor([[2.0, 4.0]])).sum().item() == pytest.approx(1.0)
    assert math.isnan(LogitScaling(torch.tensor([1.0, 2.0]), torch.zeros(2)).temperature)


def test_scaling_bad_inputs():
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_vector_scaling(torch.tensor([[math.nan, 0.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"shape \[N, 3\]"):
        LogitScaling(torch.ones(3), torch.zeros(3))(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="shape"):
        fit_temperature(torch.zeros(5), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="lengths must match"):
        fit_bias_corrected_temperature(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        calibrated_probs(torch.zeros(2, 3), 0.0)
