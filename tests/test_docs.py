"""The README and the pages of docs/: every relative link, anchor and repository path they name
exists, and the README's Python example runs as written, printing a certificate that the
textbook formulas (statsmodels' Clopper-Pearson bound, scipy's normal quantiles) give."""
from __future__ import annotations

import math
import re

import pytest
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCED = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", re.M)
# A path of this repository in backticks: its first folder is one of ours, and it holds no
# placeholder ({exp}), glob or ellipsis.
REPO_PATH = re.compile(r"`((?:benchmarks|docs|envs|profiles|reference|report|rules|scripts|src|tests)/[^`\s{}*…]*)`")


def prose(text: str) -> str:
    """The text without its fenced code blocks (whose brackets and #s are not links or headings)."""
    return FENCED.sub("", text)


def anchors(page) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation but hyphens and underscores
    dropped, spaces as hyphens, and -1, -2, ... appended to repeats."""
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(prose(page.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        result.add(slug if seen[slug] == 0 else f"{slug}-{seen[slug]}")
    return result


def broken_links(page) -> list[str]:
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: {linked.name} has no heading with that anchor")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_and_anchor_resolves(page):
    assert not broken_links(page)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_repository_path_named_exists(page):
    missing = [path for path in REPO_PATH.findall(page.read_text()) if not (ROOT / path).exists()]
    assert not missing


def test_a_link_to_a_missing_anchor_or_file_is_found(tmp_path):
    (tmp_path / "a.md").write_text("# A page\n\n## Its part\n\n```\n# not a heading\n```\n")
    (tmp_path / "b.md").write_text("[ok](a.md#its-part) [ok](a.md#a-page) [code](a.md#not-a-heading) "
                                   "[gone](c.md) [self](#b)\n\n# B\n")
    assert broken_links(tmp_path / "b.md") == ["a.md#not-a-heading: a.md has no heading with that anchor",
                                               "c.md: no such file"]


def readme_example() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    assert len(blocks) == 1, "the README holds one Python example"
    return blocks[0]


def test_the_readme_example_is_at_most_15_lines():
    assert len(readme_example().strip().splitlines()) <= 15


@pytest.mark.slow
def test_the_readme_example_runs_and_prints_a_sound_top2_certificate(capsys):
    namespace: dict = {}
    exec(compile(readme_example(), "README.md's Python example", "exec"), namespace)
    cert, settings, label = namespace["cert"], namespace["settings"], namespace["y_test"][0]
    assert capsys.readouterr().out == (f"label {label}, prediction {cert.predict}, "
                                       f"certified l-inf radius {cert.radius_linf:.4f}\n")
    assert cert.predict in range(10), "the demo's model abstained on its first test digit"
    # sound_top2's p_A bound: one-sided Clopper-Pearson at alpha / 2 (two-sided at alpha) of 1000 samples.
    assert cert.pa_lower == pytest.approx(proportion_confint(cert.count_a, 1000, alpha=0.001, method="beta")[0])
    radius_l2 = settings.sigma / 2 * (norm.ppf(cert.pa_lower) - norm.ppf(cert.pb_upper))
    assert cert.radius_l2 == pytest.approx(radius_l2) and cert.radius_linf == pytest.approx(radius_l2 / math.sqrt(64))
