#!/usr/bin/env python
"""Measure how often each certificate variant claims too much: on base classifiers whose
smoothed class probabilities and exact robust radius are known in closed form
(linf_smoothing.coverage: a half-space, a three-class case, a ten-class case; docs/certificates.md),
certify RUNS independent draws of the votes and count the runs that certify a wrong class
or a radius beyond the exact one. A sound certificate fails in at most a fraction alpha.

    python scripts/coverage.py --n0 1000 --n 100000 --alpha 0.001 --runs 300

Prints a Markdown table (rate, failures / runs, and alpha + 3 binomial standard errors)."""
import math

from linf_smoothing import cli, validators
from linf_smoothing.certificates import SOUND_VARIANTS, VARIANTS
from linf_smoothing.coverage import CASES, failure_rate


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("--n0", type=validators.positive_int, default=1000, help="selection samples")
    parser.add_argument("--n", type=validators.positive_int, default=100_000, help="estimation samples")
    parser.add_argument("--alpha", type=validators.probability, default=0.001, help="failure probability")
    parser.add_argument("--runs", type=validators.positive_int, default=300, help="independent certifications per case")
    parser.add_argument("--seed", type=validators.non_negative_int, default=0, help="seed of the first run's votes")
    args = parser.parse_args()

    limit = args.alpha + 3 * math.sqrt(args.alpha * (1 - args.alpha) / args.runs)
    print(f"N0 = {args.n0}, N = {args.n}, alpha = {args.alpha}, {args.runs} runs per case "
          f"(alpha + 3 SE = {100 * limit:.2f}%)\n")
    print("| case | exact l2 radius | " + " | ".join(
        f"{v} ({'sound' if v in SOUND_VARIANTS else 'not sound'})" for v in VARIANTS) + " |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for make in CASES.values():
        case = make()
        cells = []
        for variant in VARIANTS:
            rate = failure_rate(case, variant, args.n0, args.n, args.alpha, args.runs, args.seed)
            cells.append(f"{100 * rate:.1f}% ({round(rate * args.runs)}/{args.runs})")
        probabilities = " / ".join(f"{p:.3g}" for p in sorted(case.probabilities(), reverse=True)[:3])
        print(f"| {case.name} (top: {probabilities}) | {case.exact_radius():.4f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    cli.run(main)
