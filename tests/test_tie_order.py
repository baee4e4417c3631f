"""scripts/tie_order.py: another tie order changes only which of the tied classes is taken."""
from __future__ import annotations

import sys

import numpy as np

from conftest import ROOT
from linf_smoothing.certificates import certify_counts

sys.path.insert(0, str(ROOT / "scripts"))
import tie_order  # noqa: E402


def test_ours_is_the_lowest_index_and_the_others_break_only_ties():
    selection = np.array([0, 100, 0, 0, 0, 0, 0, 0, 0, 0])
    estimation = np.array([1, 990, 0, 0, 0, 0, 0, 7, 0, 2])
    ours = certify_counts(selection, estimation, 0.5, 0.001, "blum", 64)
    assert tie_order.lowest_first(selection) == (1, 0) and (ours.predict, ours.count_b) == (1, 1)
    assert tie_order.highest_first(selection) == (1, 9)
    for pair in [(1, 7), (1, 9), (1, 3), (1, 0)]:
        certificate = tie_order.certify_choosing(pair, selection, estimation, 0.5, 0.001, "blum", 64)
        assert (certificate.predict, certificate.count_b) == (1, estimation[pair[1]])
    assert tie_order.certify_choosing((1, 0), selection, estimation, 0.5, 0.001, "blum", 64) == ours
    untied = np.array([3, 90, 5, 0, 0, 0, 0, 2, 0, 0])
    assert tie_order.torch_topk(untied) == tie_order.highest_first(untied) == tie_order.lowest_first(untied) == (1, 2)
