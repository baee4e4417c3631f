"""The reference values of ``tests/test_methods_reference.py``, computed once by the authors' code.

    PYTHONPATH=src python tests/reference/make_methods_reference.py AUTHORS_DIR [--out tests/reference/methods.npz]

AUTHORS_DIR holds the three authors' repositories, extracted (not committed here) as

    AUTHORS_DIR/smoothadv    github.com/Hadisalman/smoothing-adversarial  cff781d53ed5fa7df6ba567d3b51df202b6ec14e
    AUTHORS_DIR/consistency  github.com/jh-jeong/smoothing-consistency     a11954aa91adb9924eecf49aaca74051e79bbb86
    AUTHORS_DIR/macer        github.com/RuntianZ/macer                     1b6837fd51cc814531a5385613c614bad85c7dab

(e.g. ``git clone`` each and ``git checkout`` the commit). Their code runs unmodified on the
CPU: the attacks take ``device='cpu'``, ``macer_train`` takes ``device``; ``rs.certify``, which
``macer.py`` imports but training never calls, is stubbed when its imports are missing.

Everything the reference depends on comes from ``fixture`` below, which both this script and
the test call: a CIFAR ResNet of depth 8 and widths 2/2/2 (``linf_smoothing.models``) whose
weights and BatchNorm buffers, the inputs, the labels and the unit noise are drawn from
``numpy.random.RandomState`` (whose streams numpy keeps stable across versions). For each
case the script runs the authors' training step on that model with the noise injected (the
authors draw theirs with ``torch.randn_like``; the noise is ``sigma * z`` in both) and stores
the loss, the adversarial images (SmoothAdv) and the gradient of the loss with respect to
every weight, flattened in ``model.parameters()`` order, as float32.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import io
import sys
import types
from pathlib import Path

import numpy as np
import torch

from linf_smoothing.models import cifar_resnet

BATCH, CHANNELS, SIZE, CLASSES, SIGMA = 4, 3, 8, 10, 0.25
WIDTHS = (2, 2, 2)

# name -> (method, noise copies m, parameters)
CASES = {
    "smoothadv_pgd": ("smoothadv", 3, {"attack": "pgd", "epsilon": 0.5, "steps": 3}),
    "smoothadv_ddn": ("smoothadv", 3, {"attack": "ddn", "epsilon": 1.0, "steps": 6, "gamma": 0.05,
                                       "predicted_in_eval": True}),
    "consistency": ("consistency", 2, {"lbd": 10.0, "eta": 0.5}),
    "macer": ("macer", 4, {"lbd": 12.0, "gamma": 8.0, "beta": 16.0}),
    "macer_hinge": ("macer", 4, {"lbd": 12.0, "gamma": 1.5, "beta": 16.0}),  # one term past the hinge
}


def fixture(m: int, beta: float = 1.0, predicted_in_eval: bool = False, seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(model in train mode, x (B, C, H, W) in [0, 1], labels (B,), noise (B, m, C, H, W) = SIGMA * z).

    Half of the labels are the model's own smoothed prediction (of the softmax at inverse
    temperature ``beta``, in train mode), so that MACER's hinge has terms (it counts only
    correctly classified images); with ``predicted_in_eval`` all are, in eval mode, so that
    DDN, which keeps the smallest perturbation that changes the smoothed prediction (and 0 for
    an image that is already wrong), has images to attack."""
    rng = np.random.RandomState(seed)
    model = cifar_resnet(8, WIDTHS)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if tensor.dim() > 1:
                fan_in = tensor[0].numel()
                value = rng.standard_normal(tensor.shape) * np.sqrt(2.0 / fan_in)
            elif name.endswith("running_var"):
                value = 1.0 + 0.2 * np.abs(rng.standard_normal(tensor.shape))
            elif name.endswith("weight"):
                value = 1.0 + 0.1 * rng.standard_normal(tensor.shape)
            else:
                value = 0.1 * rng.standard_normal(tensor.shape)
            tensor.copy_(torch.from_numpy(value.astype(np.float32)))
    x = torch.from_numpy(rng.uniform(0, 1, (BATCH, CHANNELS, SIZE, SIZE)).astype(np.float32))
    z = torch.from_numpy(rng.standard_normal((BATCH, m, CHANNELS, SIZE, SIZE)).astype(np.float32))
    noise = z * SIGMA
    random_labels = torch.from_numpy(rng.randint(0, CLASSES, BATCH))
    with torch.no_grad():  # on a copy, so that BatchNorm's buffers stay
        logits = copy.deepcopy(model).train(not predicted_in_eval)(x.repeat_interleave(m, 0) + noise.flatten(0, 1))
        predicted = torch.softmax(beta * logits, 1).reshape(BATCH, m, CLASSES).mean(1).argmax(1)
    y = predicted if predicted_in_eval else torch.where(torch.arange(BATCH) % 2 == 0, predicted, random_labels)
    return model, x, y, noise


def gradient(model: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.grad.flatten() for p in model.parameters()]).numpy().astype(np.float32)


def _requires_grad(model, flag):  # train_utils.requires_grad_ of both SmoothAdv and consistency
    for p in model.parameters():
        p.requires_grad_(flag)


def smoothadv_reference(authors: Path, m: int, params: dict) -> dict:
    """``code/train_pgd.py`` lines 234-266 (``--adv-training --train-multi-noise``) around the
    authors' ``attacks.PGD_L2`` / ``attacks.DDN``."""
    sys.path.insert(0, str(authors / "smoothadv" / "code"))
    attacks = importlib.import_module("attacks")
    sys.path.pop(0)
    model, x, y, noise = fixture(m, predicted_in_eval=params.get("predicted_in_eval", False))
    epsilon = np.min([params["epsilon"], (0 + 1) * params["epsilon"] / 1])  # epoch 0, warmup 1 (lines 177-178)
    if params["attack"] == "pgd":
        attacker = attacks.PGD_L2(steps=params["steps"], device="cpu", max_norm=epsilon)
    else:
        attacker = attacks.DDN(steps=params["steps"], device="cpu", max_norm=epsilon, init_norm=256.0 / 256.0,
                               gamma=params["gamma"])
        attacker.init_norm = epsilon  # train_pgd.py line 178
    inputs = x.repeat((1, m, 1, 1)).view(BATCH * m, CHANNELS, SIZE, SIZE)
    flat_noise = noise.flatten(0, 1)
    _requires_grad(model, False)
    model.eval()
    inputs = attacker.attack(model, inputs, y, noise=flat_noise, num_noise_vectors=m, no_grad=False)
    model.train()
    _requires_grad(model, True)
    targets = y.unsqueeze(1).repeat(1, m).reshape(-1, 1).squeeze()
    loss = torch.nn.CrossEntropyLoss()(model(inputs + flat_noise), targets)
    model.zero_grad()
    loss.backward()
    return {"loss": np.float32(loss.item()), "x_adv": inputs[::m].detach().numpy(), "grad": gradient(model)}


def consistency_reference(authors: Path, m: int, params: dict) -> dict:
    """``code/train_consistency.py`` lines 145-175 (without ``--adv-training``) around the
    authors' ``consistency.consistency_loss``."""
    sys.path.insert(0, str(authors / "consistency" / "code"))
    consistency = importlib.import_module("consistency")
    sys.path.pop(0)
    model, x, y, noise = fixture(m)
    noises = [noise[:, j] for j in range(m)]
    inputs_c = torch.cat([x + n for n in noises], dim=0)
    targets_c = y.repeat(m)
    logits = model(inputs_c)
    loss_xent = torch.nn.CrossEntropyLoss()(logits, targets_c)
    loss_con = consistency.consistency_loss(torch.chunk(logits, m, dim=0), params["lbd"], params["eta"])
    loss = loss_xent + loss_con
    model.zero_grad()
    loss.backward()
    return {"loss": np.float32(loss.item()), "grad": gradient(model)}


class _Recorder:
    """Stands in for ``macer_train``'s optimizer: keeps the gradient instead of stepping."""

    def __init__(self, model):
        self.model, self.grad = model, None

    def zero_grad(self):
        self.model.zero_grad()

    def step(self):
        self.grad = gradient(self.model)


def macer_reference(authors: Path, m: int, params: dict) -> dict:
    """The authors' ``macer.macer_train`` itself, on one batch, its noise injected."""
    sys.path.insert(0, str(authors / "macer"))
    try:
        importlib.import_module("rs.certify")
    except ImportError:  # training never calls it
        sys.modules["rs.certify"] = types.SimpleNamespace(certify=None)
    macer = importlib.import_module("macer")
    sys.path.pop(0)
    model, x, y, noise = fixture(m, params["beta"])
    z = noise / SIGMA
    recorder = _Recorder(model)
    randn_like = torch.randn_like
    torch.randn_like = lambda inputs, device=None: z.flatten(0, 1).clone()  # noqa: ARG005
    try:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            macer.macer_train(SIGMA, params["lbd"], m, params["beta"], params["gamma"], CLASSES, model, [(x, y)],
                              recorder, "cpu")
    finally:
        torch.randn_like = randn_like
    words = printed.getvalue().split()
    classification, robustness = float(words[2]), float(words[5])  # the totals divided by B
    assert torch.equal((z.flatten(0, 1) * SIGMA), noise.flatten(0, 1))
    return {"loss": np.float32(classification + params["lbd"] * robustness), "grad": recorder.grad,
            "classification": np.float32(classification), "robustness": np.float32(robustness)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("authors", type=Path, help="folder with smoothadv/, consistency/, macer/")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("methods.npz"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # a zero gradient would draw a random direction (never happens here)
    runs = {"smoothadv": smoothadv_reference, "consistency": consistency_reference, "macer": macer_reference}
    arrays = {}
    for case, (method, m, params) in CASES.items():
        for key, value in runs[method](args.authors, m, params).items():
            arrays[f"{case}/{key}"] = np.asarray(value, dtype=np.float32)
        print(case, "loss", float(arrays[f"{case}/loss"]))
    np.savez_compressed(args.out, **arrays)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
