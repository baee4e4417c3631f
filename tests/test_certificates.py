"""Certificate variants from vote counts: closed-form answers, and how often each claims too
much on classifiers whose smoothed probabilities and exact robust radius are known."""
import math
import re
from statistics import NormalDist

import numpy as np
import pytest
import torch

from linf_smoothing.bounds import clopper_pearson
from linf_smoothing.certificates import (
    ABSTAIN,
    SOUND_VARIANTS,
    VARIANTS,
    certify_counts,
    certify_many,
    max_certifiable_radius,
)
from linf_smoothing.coverage import CASES, binary_linear, failure_rate, ten_class, three_class
from linf_smoothing.smoothing import certify

inv_phi = NormalDist().inv_cdf
ALPHA, RUNS = 0.01, 1000
LIMIT = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)  # alpha + 3 binomial standard errors


def test_the_analytic_cases_have_their_closed_form_radii():
    """docs/certificates.md's three-class case (0.90 / 0.045 / 0.055, sigma 1) has exact radius 1.4399; a
    half-space at distance m has radius m; the ten-class case is tight for the top-2 formula."""
    three = three_class()
    np.testing.assert_allclose(three.probabilities(), [0.9, 0.045, 0.055], atol=1e-12)
    assert three.exact_radius() == pytest.approx(1.4399, abs=1e-4)
    assert binary_linear(0.64, 0.5).exact_radius() == pytest.approx(0.64, abs=1e-9)
    assert NormalDist().cdf(0.64 / 0.5) == pytest.approx(binary_linear(0.64, 0.5).probabilities()[0])
    ten = ten_class()
    p = ten.probabilities()
    assert p.sum() == pytest.approx(1.0) and np.argmax(p) == 3 and sorted(p)[-2] == pytest.approx(0.06)
    assert ten.exact_radius() == pytest.approx((inv_phi(0.85) - inv_phi(0.06)) / 2, abs=1e-9)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("variant", SOUND_VARIANTS)
def test_sound_variants_hold_their_alpha(case, variant):
    rate = failure_rate(CASES[case](), variant, n0=100, n=10_000, alpha=ALPHA, runs=RUNS, seed=1)
    assert rate <= LIMIT, f"{variant} over-certified {rate:.3f} of runs on {case} (limit {LIMIT:.4f})"


@pytest.mark.parametrize("case", ["three", "ten"])
def test_the_originals_variant_does_not(case):
    """The original's runner-up is the selection's, and p_B is bounded for that class alone:
    where another class holds more mass, the radius is too large far more often than alpha."""
    rate = failure_rate(CASES[case](), "blum", n0=100, n=10_000, alpha=ALPHA, runs=RUNS, seed=1)
    assert rate > LIMIT + 0.05


def test_on_two_classes_every_variant_is_cohens_radius():
    """With two classes the runner-up holds the rest: blum and cohen give sigma inv_Phi(pA_lower)
    at alpha, sound_top2 the same at alpha / 2."""
    selection, estimation, sigma = [40, 10], [900, 100], 0.5
    lower = {a: clopper_pearson(900, 1000, a)[0] for a in (ALPHA, ALPHA / 2)}
    expected = {"blum": sigma * inv_phi(lower[ALPHA]), "cohen": sigma * inv_phi(lower[ALPHA]),
                "sound_top2": sigma * inv_phi(lower[ALPHA / 2])}
    for variant in VARIANTS:
        cert = certify_counts(selection, estimation, sigma, ALPHA, variant, dimension=4)
        assert cert.predict == 0
        assert cert.radius_l2 == pytest.approx(expected[variant], rel=1e-9)
        assert cert.radius_linf == pytest.approx(expected[variant] / 2, rel=1e-9)


def test_sound_top2_bounds_the_largest_other_class_not_the_chosen_runner_up():
    """Selection picks class 1, but class 2 has more estimation votes: sound_top2's pB_upper
    is at least class 2's bound, blum's is class 1's."""
    selection, estimation = [90, 6, 4], [9000, 400, 600]
    blum = certify_counts(selection, estimation, 1.0, ALPHA, "blum", 1)
    sound = certify_counts(selection, estimation, 1.0, ALPHA, "sound_top2", 1)
    assert blum.pb_upper == pytest.approx(clopper_pearson(400, 10_000, ALPHA)[1])
    assert sound.pb_upper == pytest.approx(clopper_pearson(600, 10_000, ALPHA / 4)[1])
    assert sound.pa_lower == pytest.approx(clopper_pearson(9000, 10_000, ALPHA / 2)[0])
    assert sound.radius_l2 < blum.radius_l2


def test_sound_top2_is_never_looser_than_one_minus_pa_lower():
    cert = certify_counts([100, 0, 0], [1000, 0, 0], 1.0, ALPHA, "sound_top2", 1)
    assert cert.pb_upper == pytest.approx(1 - (ALPHA / 2) ** (1 / 1000))
    assert cert.radius_l2 == pytest.approx(inv_phi((ALPHA / 2) ** (1 / 1000)))


def test_ceilings_per_variant():
    """All N votes for one class: pA_lower = a^(1/N), a = alpha (alpha/2 for sound_top2)."""
    d = 3 * 32 * 32
    assert max_certifiable_radius(0.12, 100_000, 0.001, d, "blum") == pytest.approx(0.008252, abs=5e-7)
    assert max_certifiable_radius(0.12, 100_000, 0.001, d, "sound_top2") == pytest.approx(
        0.12 * inv_phi(0.0005 ** 1e-5) / math.sqrt(d))
    for variant in VARIANTS:
        cert = certify_counts([1000] + [0] * 9, [100_000] + [0] * 9, 0.12, 0.001, variant, d)
        assert cert.radius_linf == pytest.approx(max_certifiable_radius(0.12, 100_000, 0.001, d, variant), rel=1e-9)


def test_abstentions():
    for variant in VARIANTS:
        assert certify_counts([50, 50], [500, 500], 1.0, ALPHA, variant, 1).predict == ABSTAIN
    # Cohen's abstains below 1/2 although cA leads clearly.
    assert certify_counts([40, 30, 30], [450, 280, 270], 1.0, ALPHA, "cohen", 1).predict == ABSTAIN


class IntervalModule(torch.nn.Module):
    """An interval classifier (``coverage``) as a base model: one-hot logits of the class of
    each image's first pixel."""

    def __init__(self, case):
        super().__init__()
        self.boundaries = torch.tensor(case.boundaries, dtype=torch.float32)
        self.labels = torch.tensor(case.labels)
        self.num_classes = case.num_classes

    def forward(self, x):
        cls = self.labels[torch.bucketize(x.flatten(1)[:, 0].contiguous(), self.boundaries, right=True)]
        return torch.nn.functional.one_hot(cls, self.num_classes).float()


def test_sound_top2_through_the_sampler_on_the_three_class_case():
    """Checked end to end: 300 certifications of the three-class case by sampling the base
    model, alpha = 0.01: the sound certificate over-certifies at most alpha + 3 SE of runs."""
    case = three_class()
    model, x = IntervalModule(case), torch.zeros(1, 2, 2)
    exact, runs = case.exact_radius(), 300
    failures = 0
    for run in range(runs):
        cert = certify(model, x, sigma=case.sigma, n0=100, n=2000, alpha=ALPHA, batch_size=2100, num_classes=3,
                       variant="sound_top2", generator=torch.Generator().manual_seed(run))
        failures += cert.predict != ABSTAIN and (cert.predict != 0 or cert.radius_l2 > exact)
    assert failures / runs <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


@pytest.mark.parametrize("selection, estimation, sigma, alpha, message", [
    ([1, 0], [0, 0], 1.0, 0.01, "estimation counts of an image sum to 0"),
    ([0, 0], [5, 5], 1.0, 0.01, "selection counts of an image sum to 0"),
    ([1, 0], [5, 5], 1.0, -0.1, "alpha = -0.1: the failure probability must lie strictly between 0 and 1"),
    ([1, 0], [5, 5], 1.0, float("nan"), "alpha = nan"),
    ([1, 0], [5, 5], 1.0, 1.0, "alpha = 1.0"),
    ([1, 0], [5, -5], 1.0, 0.01, "estimation counts hold a negative count"),
    ([1], [5], 1.0, 0.01, "1 class"),
    ([1, 0], [5, 5, 1], 1.0, 0.01, "both need one count per class of the same classes"),
    ([1, 0], [5, 5], -1.0, 0.01, "sigma = -1.0: the noise level must be a finite number above 0"),
    ([1, 0], [5, 5], float("inf"), 0.01, "sigma = inf"),
    ([1, 0], [5.5, 5], 1.0, 0.01, "not an integer"),
])
def test_certify_counts_refuses_what_no_sampling_gives(selection, estimation, sigma, alpha, message):
    """Each would otherwise give a NaN or negative radius, or crash."""
    for variant in VARIANTS:
        with pytest.raises(ValueError, match=re.escape(message)):
            certify_counts(selection, estimation, sigma, alpha, variant, 4)


def test_many_images_at_once_equal_one_at_a_time():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10) * 0.3, size=200)
    selection = np.stack([rng.multinomial(100, q) for q in p])
    estimation = np.stack([rng.multinomial(1000, q) for q in p])
    for variant in VARIANTS:
        many = certify_many(selection, estimation, 0.5, 0.01, variant, 3072)
        assert (many["predict"] == ABSTAIN).any() and (many["predict"] != ABSTAIN).any()
        for i in range(0, 200, 7):
            one = certify_counts(selection[i], estimation[i], 0.5, 0.01, variant, 3072)
            assert (one.predict, one.radius_l2, one.radius_linf, one.pa_lower, one.pb_upper, one.count_a,
                    one.count_b) == tuple(many[f][i] for f in ("predict", "radius_l2", "radius_linf", "pa_lower",
                                                               "pb_upper", "count_a", "count_b"))
