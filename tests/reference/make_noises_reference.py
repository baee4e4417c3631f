"""The reference radii of ``tests/test_noises.py``, computed once by rs4a's own code.

    PYTHONPATH=src python tests/reference/make_noises_reference.py RS4A_DIR [--out tests/reference/noises.json]

RS4A_DIR holds github.com/tonyduan/rs4a at commit a02831806ee4a117ef82ce5738fe8c5e8f180b06
(Yang et al. 2020, "Randomized Smoothing of All Shapes and Sizes"), extracted and not
committed here, e.g. ``git clone https://github.com/tonyduan/rs4a RS4A_DIR && git -C RS4A_DIR
checkout a02831806ee4a117ef82ce5738fe8c5e8f180b06``. Its ``src/noises/noises.py`` runs
unmodified: each noise is built as ``Noise(dim=d, sigma=SIGMA, ...)`` and its radii come from
its own ``certify(prob_lb, adv)``, which also converts between norms
(``Noise._certify_lp_convert``), except Laplace's l-inf radius, whose ``certify`` returns its
"approx" mode: there the reference is its exact integral ``lambd * _certify_linf_integrate(rho)``
(scipy's quad; the approximation is stored beside it, to show the difference).

rs4a computes in float64 once its inputs are (``prob_lb`` a float64 tensor, torch's default
dtype float64 for its distributions' parameters), but casts some results to float32
(``torch.tensor(radius, dtype=torch.float)``, e.g. UniformBall.certify_l2). For the reference those
casts keep float64: ``torch.float`` is bound to torch.float64 while it runs. The one float32
result stored on purpose is ``uniform_linf_float32``: Uniform's l-inf radius from a float32
``prob_lb``, as rs4a's certification computes it, which can exceed the exact radius.

``tqdm`` (which rs4a imports for the progress bars of its tables, never built here) is stubbed
when it is missing.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import torch

COMMIT = "a02831806ee4a117ef82ce5738fe8c5e8f180b06"
SIGMA = 0.25
PA = [0.5001, 0.55, 0.6, 0.75, 0.9, 0.99, 0.999, 0.99999]
DIMENSIONS = [1, 2, 7, 64, 3072]
ADVERSARY = {"l1": 1, "l2": 2, "linf": np.inf}

# our noise name, its parameters, rs4a's class and keyword arguments, and the lines of
# src/noises/noises.py that compute each norm's radius (a norm the class does not certify directly
# is converted by Noise._certify_lp_convert, lines 83-105)
CASES = [
    ("gaussian", {}, "Gaussian", {}, {"l2": "195-196"}),
    ("laplace", {}, "Laplace", {}, {"l1": "229-230", "linf": "262-274 (Phi_linf, _certify_linf_integrate)"}),
    ("uniform", {}, "Uniform", {}, {"l1": "159-160", "linf": "162-163"}),
    ("expinf", {}, "ExpInf", {"k": 1, "j": 0}, {"l1": "497-503", "linf": "505-509"}),
    ("uniform_ball", {}, "UniformBall", {}, {"l2": "382-385"}),
    ("generalized_gaussian", {"p": 1.5}, "Expp", {"p": 1.5}, {"l1": "954-958"}),
    ("generalized_gaussian", {"p": 2.0}, "Expp", {"p": 2.0}, {"l1": "954-958"}),
    ("generalized_gaussian", {"p": 4.0}, "Expp", {"p": 4.0}, {"l1": "954-958"}),
]


def load_rs4a(directory: Path):
    if importlib.util.find_spec("tqdm") is None:
        sys.modules["tqdm"] = types.SimpleNamespace(tqdm=None)
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module("src.noises.noises")
    finally:
        sys.path.pop(0)


def radii(rs4a, name: str, rs4a_class: str, kwargs: dict, dimension: int) -> tuple[float, dict]:
    noise = getattr(rs4a, rs4a_class)(dim=dimension, sigma=SIGMA, **kwargs)
    prob = torch.tensor(PA, dtype=torch.float64)
    out = {}
    for norm, adversary in ADVERSARY.items():
        if name == "laplace" and norm == "linf":
            out[norm] = [noise.lambd * noise._certify_linf_integrate(rho) for rho in PA]
        elif name == "laplace" and norm == "l2":
            continue  # rs4a converts its approximate l-inf radius here: not a reference
        else:
            out[norm] = [float(r) for r in noise.certify(prob, adv=adversary)]
    return float(noise.lambd), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rs4a", type=Path, help="rs4a's repository at commit " + COMMIT)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("noises.json"))
    args = parser.parse_args()
    rs4a = load_rs4a(args.rs4a)
    torch.set_default_dtype(torch.float64)
    float32, torch.float = torch.float, torch.float64
    warnings.simplefilter("ignore")  # rs4a warns at every conversion between norms
    try:
        cases = []
        for name, parameters, rs4a_class, kwargs, lines in CASES:
            for dimension in DIMENSIONS:
                lambd, values = radii(rs4a, name, rs4a_class, kwargs, dimension)
                cases.append({"noise": name, "parameters": parameters, "dimension": dimension,
                              "rs4a": f"{rs4a_class}({', '.join(f'{k}={v}' for k, v in kwargs.items())})",
                              "lines": lines, "lambda": lambd, "radius": values})
        approx = {d: [float(r) for r in rs4a.Laplace(dim=d, sigma=SIGMA).certify(torch.tensor(PA), adv=np.inf)]
                  for d in DIMENSIONS}
    finally:
        torch.float = float32
        torch.set_default_dtype(torch.float32)
    single = torch.tensor(PA, dtype=torch.float32)
    defects = {
        "uniform_linf_float32": {d: [float(r) for r in rs4a.Uniform(dim=d, sigma=SIGMA).certify(single, adv=np.inf)]
                                 for d in DIMENSIONS},
        "laplace_linf_approx": approx,
    }
    reference = {"repository": "github.com/tonyduan/rs4a", "commit": COMMIT, "file": "src/noises/noises.py",
                 "torch": torch.__version__, "sigma": SIGMA, "pa": PA, "cases": cases, "defects": defects}
    text = json.dumps(reference, indent=None, separators=(",", ":"))
    # one case per line, so that a diff shows which changed
    args.out.write_text(text.replace(',{"noise"', ',\n{"noise"').replace('],"defects"', '],\n"defects"') + "\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
