"""Randomized smoothing: known answers, the statistical guarantee, and the sampling path."""
import math
import re

import numpy as np
import pytest
import torch
from scipy.stats import norm

from conftest import ConstantClassifier, LinearClassifier
from linf_smoothing.bounds import clopper_pearson
from linf_smoothing.certificates import max_certifiable_radius
from linf_smoothing.models import cifar_resnet
from linf_smoothing.smoothing import ABSTAIN, Smooth, certify, predict, sample_counts

PAPER_PAIRS = [(0.12, 32), (0.18, 48), (0.24, 64)]


def test_clopper_pearson_all_votes_gives_alpha_to_the_one_over_n():
    lower, upper = clopper_pearson(100_000, 100_000, 0.001)
    assert lower == pytest.approx(0.001 ** (1 / 100_000), rel=1e-12) and upper == 1.0
    lower, upper = clopper_pearson(0, 100_000, 0.001)
    assert lower == 0.0 and upper == pytest.approx(1 - 0.001 ** (1 / 100_000), rel=1e-9)


@pytest.mark.parametrize("sigma, size", PAPER_PAIRS)
def test_ceiling_formula_is_the_papers_0_008252(sigma, size):
    assert max_certifiable_radius(sigma, 100_000, 0.001, 3 * size * size) == pytest.approx(0.008252, abs=5e-7)


@pytest.mark.parametrize("variant", ["blum", "cohen", "sound_top2"])
@pytest.mark.parametrize("sigma, size", [  # 100,000 noisy 64x64 images take seconds: the slow tier's
    pytest.param(sigma, size, marks=pytest.mark.slow if size == 64 else ()) for sigma, size in PAPER_PAIRS])
def test_constant_classifier_is_certified_at_the_ceiling(sigma, size, variant):
    """All N = 100,000 samples vote for one class: the l-inf radius is 0.008252 at each paper
    size (sound_top2, whose pA_lower is at alpha / 2, a little less)."""
    x = torch.rand(3, size, size)
    cert = certify(ConstantClassifier(4), x, sigma=sigma, n0=1000, n=100_000, alpha=0.001, batch_size=5000,
                   num_classes=10, variant=variant, generator=torch.Generator().manual_seed(0))
    assert cert.predict == 4 and cert.count_a == 100_000
    ceiling = 0.008252 if variant != "sound_top2" else 0.008201
    assert round(cert.radius_linf, 6) == ceiling
    assert cert.radius_l2 == pytest.approx(cert.radius_linf * math.sqrt(3 * size * size))


def linear_setup(true_radius: float, sigma: float, dim: int = 16, seed: int = 0):
    """A linear classifier and a point x whose distance to the boundary is true_radius."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, generator=gen)
    x = torch.rand(1, 4, dim // 4, generator=gen)
    b = true_radius * w.norm().item() - float(x.flatten() @ w)
    return LinearClassifier(w, b), x


@pytest.mark.parametrize("variant", ["blum", "cohen", "sound_top2"])
def test_linear_classifier_certificate_is_sound_and_tight(variant):
    """g's exact l2 robust radius at x is |w.x + b| / ||w||. The certificate may exceed it
    only with probability alpha; on average it stays close below it."""
    sigma, true_radius, alpha, runs = 0.5, 0.64, 0.05, 400
    model, x = linear_setup(true_radius, sigma)
    p_a = norm.cdf(true_radius / sigma)
    radii = []
    for run in range(runs):
        cert = certify(model, x, sigma, n0=50, n=1000, alpha=alpha, batch_size=1050, num_classes=2,
                       variant=variant, generator=torch.Generator().manual_seed(run))
        assert cert.predict in (0, ABSTAIN)
        radii.append(cert.radius_l2)
    radii = np.array(radii)
    too_large = np.mean(radii > true_radius)
    assert too_large <= alpha + 2.5 * math.sqrt(alpha * (1 - alpha) / runs)
    assert 0.85 * true_radius < radii.mean() < true_radius
    # With N samples, the expected lower bound sits about z(1 - a) standard errors below pA,
    # a = alpha (alpha / 2 for sound_top2, whose pA_lower takes half of alpha).
    level = alpha / 2 if variant == "sound_top2" else alpha
    expected = sigma * norm.ppf(p_a - norm.ppf(1 - level) * math.sqrt(p_a * (1 - p_a) / 1000))
    assert radii.mean() == pytest.approx(expected, rel=0.05)


def plain_counts(model, x, sigma, num, batch_size, num_classes, generator):
    """Cohen et al.'s structure: per batch, fresh noise; then one image at a time on the host."""
    counts = np.zeros(num_classes, dtype=np.int64)
    remaining = num
    while remaining:
        this = min(batch_size, remaining)
        noise = torch.empty((this, *x.shape)).normal_(0.0, sigma, generator=generator)
        for i in range(this):
            with torch.no_grad():
                counts[int(model((x + noise[i]).unsqueeze(0)).argmax(1))] += 1
        remaining -= this
    return counts


def test_sampling_counts_equal_a_plain_per_sample_loop():
    torch.manual_seed(0)
    model = cifar_resnet(8, (4, 8, 8)).eval()
    x = torch.rand(3, 8, 8)
    for num, batch_size in ((300, 64), (64, 64), (10, 64)):
        fast = sample_counts(model, x, 0.3, num, batch_size, 10, generator=torch.Generator().manual_seed(7))
        plain = plain_counts(model, x, 0.3, num, batch_size, 10, torch.Generator().manual_seed(7))
        assert fast.sum() == num
        assert np.array_equal(fast, plain)


def test_predict_returns_the_class_or_abstains():
    x = torch.rand(1, 4, 4)
    assert predict(ConstantClassifier(3), x, 0.5, 100, 0.001, 50, 10) == 3
    # On the decision boundary both classes get about half the votes: abstain.
    model, x = linear_setup(0.0, 0.5)
    assert predict(model, x, 0.5, 1000, 0.001, 500, 2, generator=torch.Generator().manual_seed(0)) == ABSTAIN


def test_certify_abstains_on_a_near_tie():
    model, x = linear_setup(0.001, 0.5)
    for variant in ("blum", "cohen", "sound_top2"):
        cert = certify(model, x, 0.5, 100, 1000, 0.001, 500, 2, variant=variant,
                       generator=torch.Generator().manual_seed(1))
        assert cert.predict == ABSTAIN and cert.radius_linf == 0.0


def test_certify_is_repeatable_with_a_seed():
    torch.manual_seed(0)
    model = cifar_resnet(8, (4, 8, 8)).eval()
    x = torch.rand(3, 8, 8)
    runs = [certify(model, x, 0.25, 50, 500, 0.001, 128, 10, variant="blum",
                    generator=torch.Generator().manual_seed(11)) for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.slow
def test_compiled_sampling_counts_match_eager():
    import copy

    from linf_smoothing.models import inference_model

    torch.manual_seed(0)
    model = cifar_resnet(8, (4, 8, 8)).eval()
    compiled = inference_model(copy.deepcopy(model), torch.device("cpu"), compile=True)
    x = torch.rand(3, 8, 8)
    eager = sample_counts(model, x, 0.3, 512, 128, 10, generator=torch.Generator().manual_seed(3))
    fast = sample_counts(compiled, x, 0.3, 512, 128, 10, generator=torch.Generator().manual_seed(3))
    assert np.abs(eager - fast).sum() <= 2  # float rounding may flip a near-tie


def test_the_smoothed_classifier_object_and_the_functions_agree():
    torch.manual_seed(0)
    model = cifar_resnet(8, (4, 8, 8)).eval()
    x = torch.rand(3, 8, 8)
    smooth = Smooth(model, num_classes=10, sigma=0.25, batch_size=128)
    counts = smooth.sample(x, 50, 500, generator=torch.Generator().manual_seed(2))
    assert counts.selection.sum() == 50 and counts.estimation.sum() == 500
    assert smooth.certify(x, 50, 500, 0.001, variant="sound_top2", generator=torch.Generator().manual_seed(2)) == (
        certify(model, x, sigma=0.25, n0=50, n=500, alpha=0.001, batch_size=128, num_classes=10, variant="sound_top2",
                generator=torch.Generator().manual_seed(2)))
    assert smooth.predict(x, 300, 0.01, generator=torch.Generator().manual_seed(3)) == predict(
        model, x, 0.25, 300, 0.01, 128, 10, generator=torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="unknown certificate variant"):
        smooth.certify(x, 5, 5, 0.01, variant="top3")


@pytest.mark.parametrize("call, message", [
    # Cohen et al.'s calls (locuslab/smoothing, code/certify.py and code/predict.py): the batch size last
    (lambda s, x: s.certify(x, 10, 100, 0.001, 64),
     "Smooth.certify() takes x, n0, n, alpha by position and variant=, generator= by keyword; Cohen et al.'s "
     "smooth.certify(x, n0, n, alpha, batch_size) passes the batch size fifth: here it is given once, to "
     "Smooth(model, num_classes, sigma, batch_size)"),
    (lambda s, x: s.certify(x, 10, 100, 0.001, batch_size=64), "Cohen et al.'s smooth.certify("),
    (lambda s, x: s.predict(x, 100, 0.001, 64),
     "Smooth.predict() takes x, n, alpha by position and generator= by keyword; Cohen et al.'s "
     "smooth.predict(x, n, alpha, batch_size) passes the batch size fourth"),
    (lambda s, x: certify(s.model, x, 0.25, 10, 100, 0.001, 64, 10, "cohen"),
     "certify() takes model, x, sigma, n0, n, alpha, batch_size, num_classes by position and variant=, "
     "generator=, mixed_precision= by keyword"),
    (lambda s, x: predict(s.model, x, 0.25, 100, 0.001, 64, 10, None),
     "predict() takes model, x, sigma, n, alpha, batch_size, num_classes by position and generator= by keyword"),
])
def test_a_positional_option_is_refused_with_where_it_goes(call, message):
    """A fifth positional argument once became ``variant`` and failed far from the call."""
    smooth = Smooth(ConstantClassifier(3), num_classes=10, sigma=0.25, batch_size=64)
    with pytest.raises(TypeError) as error:
        call(smooth, torch.zeros(1, 4, 4))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("call, message", [
    (lambda m, x: Smooth(m, 10, 0.5, 0), "batch_size = 0: give an integer of at least 1"),
    (lambda m, x: Smooth(m, 1, 0.5, 8), "num_classes = 1: give an integer of at least 2"),
    (lambda m, x: Smooth(m, 10, -0.5, 8), "sigma = -0.5"),
    (lambda m, x: Smooth(m, 10, float("nan"), 8), "sigma = nan"),
    (lambda m, x: certify(m, x, 0.5, 0, 10, 0.01, 8, 10), "n0 = 0: give an integer of at least 1"),
    (lambda m, x: certify(m, x, 0.5, 10, 0, 0.01, 8, 10), "n = 0: give an integer of at least 1"),
    (lambda m, x: certify(m, x, 0.5, 10, 10, 0.0, 8, 10), "alpha = 0.0"),
    (lambda m, x: certify(m, x, 0.5, 10, 10, 0.01, 0, 10), "batch_size = 0"),
    (lambda m, x: predict(m, x, 0.5, 10, float("nan"), 8, 10), "alpha = nan"),
    (lambda m, x: predict(m, x, 0.5, 0, 0.01, 8, 10), "n = 0"),
    (lambda m, x: sample_counts(m, x, 0.5, -3, 8, 10), "the number of samples = -3"),
])
def test_the_smoothed_classifier_refuses_arguments_no_sampling_can_use(call, message):
    """Each would otherwise loop forever (batch_size 0), crash, or give a NaN or negative radius."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call(ConstantClassifier(3), torch.zeros(1, 4, 4))
