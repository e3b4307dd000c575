"""GitHub workflows: every action pinned by a full commit SHA (a tag can be moved; the
publish job holds ``id-token: write``), and the tools they install pinned by version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$")


def uses_lines(path: Path) -> list[tuple[int, str, str]]:
    """``(line number, action@ref, trailing comment)`` of every ``uses:`` line."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = USES.match(line)
        if match:
            found.append((number, match.group(1).strip("'\""), match.group(2).strip()))
    return found


def unpinned(path: Path) -> list[str]:
    bad = []
    for number, action, comment in uses_lines(path):
        if action.startswith("./") or action.startswith("docker://"):
            continue
        ref = action.rpartition("@")[2]
        if "@" not in action or not re.fullmatch(r"[0-9a-f]{40}", ref):
            bad.append(f"{path.name}:{number}: {action} (pin it to a full commit SHA)")
        elif not re.match(r"#\s*v\d", comment):
            bad.append(f"{path.name}:{number}: {action} has no '# vX.Y.Z' tag comment")
    return bad


def test_there_are_workflows():
    assert WORKFLOWS and any(uses_lines(p) for p in WORKFLOWS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit(path):
    assert unpinned(path) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_build_tools_are_pinned_by_version(path):
    for line in path.read_text().splitlines():
        if "pip install" in line and re.search(r"\bbuild\b", line):
            assert re.search(r"\bbuild==\d", line), f"{path.name}: unpinned `build`: {line}"


def test_the_check_catches_a_tag(tmp_path):
    bad = tmp_path / "x.yml"
    bad.write_text("steps:\n  - uses: actions/checkout@v4\n"
                   "  - uses: actions/setup-python@42375524e23c412d93fb67b49958b491fce71c38\n"
                   "  - uses: ./local-action\n")
    assert [p.split(": ", 1)[1] for p in unpinned(bad)] == [
        "actions/checkout@v4 (pin it to a full commit SHA)",
        "actions/setup-python@42375524e23c412d93fb67b49958b491fce71c38 has no '# vX.Y.Z' tag "
        "comment"]
