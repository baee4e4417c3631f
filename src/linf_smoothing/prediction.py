"""Cohen et al.'s abstaining PREDICT from the vote counts of the base classifier: the top
class if a two-sided binomial test of its votes against the runner-up's rejects a tie at level
alpha, else an abstention. A returned class differs from the smoothed classifier's with
probability at most alpha. ``smoothing.Smooth.predict`` samples the votes; the checks of a
prediction file recompute each row's prediction from the votes it stores."""
from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from linf_smoothing.certificates import ABSTAIN, as_count_matrix, check_alpha


def predict_from_counts(counts, alpha: float) -> np.ndarray:
    """PREDICT of each image (a row of per-class ``counts``) at level ``alpha``: its top class
    (ties to the lower index), or ABSTAIN where the test keeps a tie with the runner-up."""
    check_alpha(alpha)
    counts = as_count_matrix(counts, "PREDICT's")
    order = np.argsort(-counts, axis=1, kind="stable")
    rows = np.arange(len(counts))
    top, runner_up = counts[rows, order[:, 0]], counts[rows, order[:, 1]]
    tied = np.array([binomtest(int(a), int(a + b), 0.5).pvalue > alpha if a + b > 0 else True
                     for a, b in zip(top, runner_up)], dtype=bool)
    return np.where(tied, ABSTAIN, order[:, 0])
