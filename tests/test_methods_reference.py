"""Each training method against its authors' own code: the loss, the attack's output and the
gradient with respect to every weight, on identical weights, inputs, labels and noise.

The reference values in ``tests/reference/methods.npz`` were computed once by running the
authors' code (SmoothAdv: github.com/Hadisalman/smoothing-adversarial cff781d, ``code/attacks.py``
``PGD_L2._attack_mutlinoise`` and ``DDN._attack_mutlinoise`` inside ``code/train_pgd.py``'s
training step, lines 234-266; consistency: github.com/jh-jeong/smoothing-consistency a11954a,
``code/consistency.py`` ``consistency_loss`` inside ``code/train_consistency.py`` lines
145-175; MACER: github.com/RuntianZ/macer 1b6837f, ``macer.py`` ``macer_train`` itself) on
the tiny model and data of ``tests/reference/make_methods_reference.py``'s ``fixture``.
Regenerate them with that script (``tests/reference/README.md`` says how).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from linf_smoothing.consistency import consistency_loss
from linf_smoothing.macer import macer_loss
from linf_smoothing.smoothadv import smoothadv_loss

REFERENCE = Path(__file__).parent / "reference"
_spec = importlib.util.spec_from_file_location("make_methods_reference", REFERENCE / "make_methods_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)
VALUES = np.load(REFERENCE / "methods.npz")


def _ours(case: str):
    """(loss, gradient, x_adv or None, x) of our implementation on the case's fixture."""
    method, m, params = ref.CASES[case]
    model, x, y, noise = ref.fixture(m, params.get("beta", 1.0), params.get("predicted_in_eval", False))
    x_adv = None
    if method == "smoothadv":
        loss, x_adv = smoothadv_loss(model, x, y, noise, params["epsilon"], params["steps"], params["attack"],
                                     params.get("gamma", 0.05))
    elif method == "consistency":
        loss = consistency_loss(model, x, y, noise, params["lbd"], params["eta"])
    else:
        loss = macer_loss(model, x, y, noise, ref.SIGMA, params["lbd"], params["gamma"], params["beta"])
    model.zero_grad()
    loss.backward()
    return loss.item(), ref.gradient(model), x_adv, x


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("case", list(ref.CASES))
def test_loss_and_weight_gradient_equal_the_authors(case):
    loss, grad, _, _ = _ours(case)
    assert loss == pytest.approx(float(VALUES[f"{case}/loss"]), rel=1e-5)
    expected = VALUES[f"{case}/grad"]
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("case", ["smoothadv_pgd", "smoothadv_ddn"])
def test_attack_output_equals_the_authors(case):
    _, _, x_adv, x = _ours(case)
    expected = VALUES[f"{case}/x_adv"]
    np.testing.assert_allclose(x_adv.detach().numpy(), expected, rtol=0, atol=1e-5)
    # the attack moved the images (a test of a no-op attack would prove nothing)
    assert (x_adv - x).flatten(1).norm(dim=1).max() > 0.1


def test_the_macer_cases_exercise_the_hinge():
    """macer: both correctly classified images inside the hinge; macer_hinge: one of them past it."""
    assert float(VALUES["macer/robustness"]) > 0 and float(VALUES["macer_hinge/robustness"]) > 0
    assert float(VALUES["macer/classification"]) == float(VALUES["macer_hinge/classification"])
