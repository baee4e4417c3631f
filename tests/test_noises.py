"""Smoothing noises (linf_smoothing.noises): their samplers, their certified radii against
closed forms, independent integrals and rs4a's own values, and their soundness."""
import math
import re
from statistics import NormalDist

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from linf_smoothing.certificates import certify_many
from linf_smoothing.noises import NOISES, NORMS, Gaussian, make_noise, noise_from_description

inv_phi = NormalDist().inv_cdf


def test_gaussian_draws_the_bits_training_and_certification_always_drew():
    """Training drew sigma * torch.randn(shape, generator); Smooth.votes filled its buffer with
    normal_(0, sigma, generator): the Gaussian noise draws exactly those."""
    noise, shape = Gaussian(0.3, 12), (5, 3, 2, 2)
    drawn = noise.sample(shape, generator=torch.Generator().manual_seed(4))
    assert torch.equal(drawn, 0.3 * torch.randn(shape, generator=torch.Generator().manual_seed(4)))
    filled = noise.sample_(torch.empty(shape), torch.Generator().manual_seed(4))
    assert torch.equal(filled, torch.empty(shape).normal_(0.0, 0.3, generator=torch.Generator().manual_seed(4)))


def test_laplace_l1_radius_is_the_one_dimensional_quantile():
    """-lambda log(2 (1 - pa)), lambda = sigma / sqrt(2): the pa-quantile of one coordinate."""
    noise = make_noise("laplace", 0.5, 10)
    pa = np.array([0.6, 0.9, 0.999])
    expected = stats.laplace(scale=0.5 / math.sqrt(2)).ppf(pa)
    np.testing.assert_allclose(noise.radius(pa, "l1"), expected, rtol=1e-12)


def _laplace_phi(p, d):
    """rs4a's Phi_linf written anew: the largest E[D; U] over sets U of probability p, D = 2B - d."""
    values = 2 * np.arange(d, -1, -1) - d
    masses = stats.binom.pmf(np.arange(d, -1, -1), d, 0.5)
    above = np.concatenate([[0.0], np.cumsum(masses)])
    taken = np.clip(p - above[:-1], 0.0, masses)
    return float(np.sum(taken * values))


@pytest.mark.parametrize("d", [1, 2, 5, 64, 3072])
def test_laplace_linf_radius_is_the_differential_methods_integral(d):
    """The closed-form pieces equal scipy's quad of 1 / Phi, split at D's atoms, to 1e-10."""
    noise = make_noise("laplace", math.sqrt(2.0), d)  # lambda = 1
    breaks = stats.binom.sf(np.arange(d + 1), d, 0.5)
    for pa in (0.55, 0.8, 0.99, 0.99999):
        inside = np.sort(breaks[(breaks > 1 - pa) & (breaks < 0.5)])
        edges = np.concatenate([[1 - pa], inside, [0.5]])
        quad = sum(integrate.quad(lambda p: 1 / _laplace_phi(p, d), a, b, epsabs=0, epsrel=1e-13)[0]
                   for a, b in zip(edges[:-1], edges[1:]))
        assert float(noise.radius(pa, "linf")) == pytest.approx(quad, rel=1e-10)


def test_every_noise_names_itself_and_comes_back_from_its_description():
    for name, cls in NOISES.items():
        parameters = {"p": 3.0} if name == "generalized_gaussian" else {}
        noise = make_noise(name, 0.25, 48, **parameters)
        assert isinstance(noise, cls) and noise.describe() == {"noise": name, **parameters}
        assert noise_from_description({"sigma": 0.25, **noise.describe()}, 0.25, 48) == noise
    assert noise_from_description({"sigma": 0.25, "variant": "blum"}, 0.25, 48) == Gaussian(0.25, 48)


@pytest.mark.parametrize("call, message", [
    (lambda: make_noise("cauchy", 0.5, 4), "unknown noise 'cauchy'; choose one of gaussian, laplace"),
    (lambda: make_noise("laplace", 0.5, 4, p=2), "noise 'laplace' takes no parameter: unknown parameter(s) p"),
    (lambda: make_noise("gaussian", -1.0, 4), "sigma = -1.0: the noise level must be a finite number above 0"),
    (lambda: make_noise("gaussian", 0.5, 0), "dimension = 0: the input dimension d must be an integer"),
    (lambda: Gaussian(0.5, 4).radius(0.9, "l3"), "unknown norm 'l3'; choose one of l1, l2, linf"),
    (lambda: Gaussian(0.5, 12).sample((2, 5)), "no trailing dimensions of d = 12 elements"),
    (lambda: noise_from_description({"noise": "pareto"}, 0.5, 4), "the description names the unknown noise"),
])
def test_refusals_name_the_cause_in_one_line(call, message):
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        call()
    assert "\n" not in str(raised.value)


def test_gaussian_certificates_keep_every_field_and_add_l1():
    """The Gaussian's l2 radius is sigma inv_Phi(pA_lower), its l-inf radius that / sqrt(d) and
    its l1 radius the l2 radius, bit for bit, with or without the noise given."""
    rng = np.random.default_rng(0)
    selection, estimation = rng.multinomial(100, [0.8, 0.15, 0.05], 50), rng.multinomial(10_000, [0.8, 0.15, 0.05], 50)
    plain = certify_many(selection, estimation, 0.25, 0.001, "cohen", 3072)
    named = certify_many(selection, estimation, 0.25, 0.001, "cohen", 3072, Gaussian(0.25, 3072))
    for field in plain:
        assert np.array_equal(plain[field], named[field])
    certified = plain["predict"] >= 0
    assert certified.any()
    expected = np.array([0.25 * inv_phi(p) for p in plain["pa_lower"][certified]])
    assert np.array_equal(plain["radius_l2"][certified], expected)
    assert np.array_equal(plain["radius_linf"], plain["radius_l2"] / math.sqrt(3072))
    assert np.array_equal(plain["radius_l1"], plain["radius_l2"])


def test_every_norm_is_known():
    assert NORMS == ("l1", "l2", "linf")
