"""scripts/tie_order.py: another tie order changes only which of the tied classes is taken."""
from __future__ import annotations

import sys

import numpy as np

from conftest import ROOT
from linf_smoothing.certificates import _top_two, certify_counts

sys.path.insert(0, str(ROOT / "scripts"))
import tie_order  # noqa: E402


def test_ours_is_the_lowest_index_and_the_others_break_only_ties():
    selection = np.array([0, 100, 0, 0, 0, 0, 0, 0, 0, 0])
    assert tie_order.lowest_first(selection) == _top_two(selection) == (1, 0)
    assert tie_order.highest_first(selection) == (1, 9)
    estimation = np.array([1, 990, 0, 0, 0, 0, 0, 7, 0, 2])
    for pair in [(1, 7), (1, 9), (1, 3)]:
        certificate = certify_counts(tie_order.choosing(selection, pair), estimation, 0.5, 0.001, "blum", 64)
        assert (certificate.predict, certificate.count_b) == (1, estimation[pair[1]])
    untied = np.array([3, 90, 5, 0, 0, 0, 0, 2, 0, 0])
    assert tie_order.torch_topk(untied) == tie_order.highest_first(untied) == _top_two(untied) == (1, 2)
