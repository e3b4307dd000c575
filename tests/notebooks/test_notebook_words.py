"""What a student reads: no development history in any cell, and the notation sheet's promise
(one symbol, one meaning) kept in the notebooks' Markdown.

Nothing here executes a notebook; every check reads the cell sources of `notebooks/` (student
copies) and `instructor/` (with the solutions).
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
INSTRUCTOR = sorted((ROOT / "instructor").glob("[0-9][0-9]_*.ipynb"))
ALL = NOTEBOOKS + INSTRUCTOR
NOTATION = ROOT / "notebooks" / "NOTATION.md"

#: Development history: issue numbers, the probes and copies of the team that built the lab,
#: bugs that were fixed, paths of the repository's tests. Each pattern is checked below against
#: phrases it must catch and legitimate phrases it must leave alone.
DEVELOPMENT_WORDS = {
    "an issue number": re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE),
    "a probe of the development": re.compile(r"\bfirst probe\b", re.IGNORECASE),
    "the team's copy of a paper": re.compile(r"\bour copy\b", re.IGNORECASE),
    "a fixed bug": re.compile(r"\buntil it was fixed\b|\bwas fixed in\b", re.IGNORECASE),
    "an earlier version": re.compile(r"\bearlier ltlab versions?\b|\bprevious release\b",
                                     re.IGNORECASE),
    "a path of the test suite": re.compile(r"(?<![\w./-])tests/\w"),
}

CAUGHT = [
    "Before issue 14 this notebook trained with SGD",
    "# section 7 (issue 15's targets): FlexDA beats FixMatch",
    "see issue #3",
    "That is why the oracle of the issue's first probe was the worst arm.",
    "The paper's equations did not survive in our copy of its text",
    "`FlexDA(unlabeled_prior=...)` did so until it was fixed; today that is",
    "earlier ltlab versions divided by $N$",
    "(`tests/core/test_metrics_calibration.py` shows a case)",
    "trains them (tests/experiments/test_calibration.py)",
]
LEFT_ALONE = [
    "a frequent source of confusion in its issues (Chumsy0725/logit-adj-pytorch#6)",
    "a linear probe on the frozen backbone features",
    "a balanced probe, the tail class above all",
    "Students save a copy to their Drive; copy of the notebook",
    "https://github.com/org/repo/tree/main/tests/data",
    "the latest tests show",
    "an issue with the learning rate",
]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _hits(patterns: dict[str, re.Pattern], text: str) -> list[str]:
    return [name for name, pat in patterns.items() if pat.search(text)]


@pytest.mark.parametrize("phrase", CAUGHT)
def test_development_words_catch_the_history_they_name(phrase):
    assert _hits(DEVELOPMENT_WORDS, phrase), f"no pattern catches {phrase!r}"


@pytest.mark.parametrize("phrase", LEFT_ALONE)
def test_development_words_leave_legitimate_words_alone(phrase):
    assert not _hits(DEVELOPMENT_WORDS, phrase), (
        f"{phrase!r} is legitimate but matches {_hits(DEVELOPMENT_WORDS, phrase)}")


def test_there_are_notebooks_in_both_folders():
    assert NOTEBOOKS and INSTRUCTOR
    assert [p.name for p in NOTEBOOKS] == [p.name for p in INSTRUCTOR]


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_no_development_history_in_any_cell(path):
    """Markdown, code (comments included) and raw cells alike."""
    found = []
    for i, cell in enumerate(_cells(path)):
        for line in _source(cell).splitlines():
            for name in _hits(DEVELOPMENT_WORDS, line):
                found.append(f"cell {i} ({cell['cell_type']}), {name}: {line.strip()[:110]}")
    assert not found, f"{_id(path)} shows development history to students:\n" + "\n".join(found)


# ------------------------------------------------------------------------------- notation
#: A symbol that NOTATION.md reserves, and the uses of it that would give it a second meaning.
#: A match is excused where the line names the paper's symbol ("the FixMatch paper's λ_u"):
#: that is how NOTATION.md asks a notebook to map a paper's letter to ours, once.
CLASHES = [
    (r"\omega", "an augmentation written as a function of the sample", r"\\omega\s*\(|\\Omega\s*\("),
    ("u", "an unlabelled sample", r"(?<![\\\w])u_b\b|sample \$u\$|\\omega\(u"),
    ("u", "a normalised projection", r"(?<![\\\w])u_\{?[ijp]\}?\^\\top|\$u\s*=\s*z"),
    (r"\lambda", "a loss weight or a constant (BalPoE only)", r"\\lambda_\{?(?:u|1|d)\b|\\lambda\^\{?\*"),
    (r"\lambda", "1/ε (GH)", r"\\lambda\s*=\s*1\s*/\s*\\varepsilon|\\exp\(\\lambda"),
    ("M", "the number of ECE bins (GH's anchors only)", r"\$M\s*=\s*15\$|\^\{?M\}?\s*\\frac|into \$M\$|\$M\$ the number of"),
    ("E", "the number of Sinkhorn iterations (experts only)", r"\$E\$ times|\$E\s*=\s*300\$"),
    ("E", "the effective number (experts only)", r"E_\{?n"),
    ("B", "an ECE bin (mini-batch size only)", r"B_\{?b\}?\b|B_1,\s*\\dots"),
    ("few", "a third of the classes or fewer than 40 labels (n < 20 only)", r"\bfew[- ]third|few\s*<\s*40"),
    (r"\varepsilon", "a risk (written ϵ; risks are R)", r"\\epsilon_\{?[ub]\b|\\hat\\epsilon"),
    ("w", "a loss-term weight (per-class weights only; loss terms are ζ)", r"w_\{?GH"),
    (r"\bar\lambda = 0", "an 'iff' (it is sufficient, not necessary)", r"\biff\b[^.]{0,20}\\bar\\lambda"),
    ("k", "FlexDA's schedule power (GH's anchor index only; the power is ξ)",
     r"t_\{?\\max\}?\s*\)\s*\^\{?k\b|power \$k\$"),
]


def _markdown_lines(path: Path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "markdown":
            for line in _source(cell).splitlines():
                yield i, line


def _clashes(line: str) -> list[str]:
    out = []
    for symbol, meaning, pattern in CLASHES:
        for m in re.finditer(pattern, line):
            if "paper" in line[max(0, m.start() - 60):m.start()]:
                continue
            out.append(f"{symbol} as {meaning}: {m.group(0)!r}")
    return out


@pytest.mark.parametrize(("line", "expected"), [
    (r"unlabelled sample $u$, predicts on a weak view $\omega(u)$", r"\omega"),
    (r"+ \lambda_u\frac{1}{\mu B}\sum_b", r"\lambda"),
    (r"plus a constant $\lambda^*$ (the risk of the", r"\lambda"),
    (r"into $M = 15$ equal-width bins", "M"),
    (r"repeated $E$ times ($E = 300$ in the paper).", "E"),
    (r"CE weighted by $w_y \propto 1/E_{n_y}$", "E"),
    (r"equal-width bins $B_1, \dots, B_M$", "B"),
    (r"which keeps the few third's accuracy", "few"),
    (r"$\epsilon_b(h) \le \epsilon_u(h) + d$", r"\varepsilon"),
    (r"**iff $\bar\lambda = 0$** (the paper's Theorem 1)", r"\bar\lambda = 0"),
    (r"minimises NT-Xent on $u = z/\lVert z\rVert$:", "u"),
    (r"$\alpha_t = 1 - (1 - \alpha_{\min})(t / t_{\max})^k$", "k"),
    (r"What does a larger power $k$ change?", "k"),
])
def test_clash_patterns_catch_the_old_second_meanings(line, expected):
    assert any(c.startswith(expected + " as ") for c in _clashes(line)), (line, _clashes(line))


@pytest.mark.parametrize("line", [
    r"$T_{\text{imb}} = \exp(\mathrm{KL}(u\,\|\,\hat Q))$ is 1 for a balanced $\hat Q$",
    r"where $\zeta_u$ weighs the unlabelled loss (the FixMatch paper's $\lambda_u$).",
    r"$\lambda = 0$ is the LA loss (uniform), $\lambda = -1$ favours the tail",
    r"$\omega = \max\big(0,\ \overline{\mathrm{acc}}(h') - \overline{\mathrm{acc}}(h)\big)^{\nu}$",
    r"$S_n = \mathrm{normalize}(z_n M^\top)\in\mathbb R^K$ and $MM^\top$",
    r"a few of the classes; the *few* group ($n_i < 20$) is empty",
    r"Fisher-consistent for the balanced error if $\bar\lambda = 0$ (sufficient)",
    r"with mixing weight $m \sim \mathrm{Beta}(\alpha_{\text{mix}}, \alpha_{\text{mix}})$",
    r"$\alpha_t = 1 - (1 - \alpha_{\min})(t / t_{\max})^{\xi}$ with the power $\xi$",
    r"the allocation's column $k$ is anchor $M_k$'s share",
])
def test_clash_patterns_leave_the_reserved_meanings_alone(line):
    assert not _clashes(line), _clashes(line)


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_markdown_keeps_one_meaning_per_symbol(path):
    found = [f"cell {i}: {c}" for i, line in _markdown_lines(path) for c in _clashes(line)]
    assert not found, (f"{_id(path)} gives a symbol of NOTATION.md a second meaning:\n"
                       + "\n".join(found))


def _notation_symbols() -> list[str]:
    """The symbols of the first column of every table of NOTATION.md, one per $...$."""
    symbols = []
    for line in NOTATION.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| symbol") and not line.startswith("| name"):
            first = line.split("|")[1]
            symbols += [s.strip() for s in re.findall(r"\$([^$]+)\$", first)]
    return symbols


def test_notation_sheet_lists_each_symbol_once():
    symbols = _notation_symbols()
    assert len(symbols) > 40, "NOTATION.md's tables were not read"
    doubles = sorted({s for s in symbols if symbols.count(s) > 1})
    assert not doubles, f"NOTATION.md lists these symbols more than once: {doubles}"


def test_notation_sheet_reserves_the_symbols_the_clash_table_protects():
    """The replacements the clash table points to are the ones the sheet lists."""
    symbols = set(_notation_symbols())
    for needed in (r"\omega", "u", r"\lambda_e", r"\zeta", "M", r"N_{\text{bins}}",
                   r"n_{\text{iter}}", "E", "B", "x'", r"\mathrm{weak}(x')", "R(h)", "W_i", r"\xi"):
        assert needed in symbols, f"NOTATION.md does not list ${needed}$"
