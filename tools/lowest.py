"""Print pip constraints that pin every runtime dependency to its floor in pyproject.toml.

The lowest-versions CI job installs ltlab with them (``pip install -c lowest.txt -e .``), so
each floor is a version that is tested, not a guess (uv's ``--resolution lowest-direct`` does
the same; this needs only pip)::

    python tools/lowest.py > lowest.txt
    python tools/lowest.py --extra test > test-tools.txt  # the extra, less what is pinned

``--extra NAME`` prints that extra's requirements instead (``ltlab[...]`` expanded), without
the runtime dependencies, whose floors the constraints pin (an extra may ask more of them,
e.g. the test extra's newer ipykernel, which would contradict the pin).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def floors(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``{name: floor}`` of ``[project] dependencies`` (each must have one ``>=`` floor)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10 (pytest and pip's vendored libraries bring tomli)
        import tomli as tomllib
    from packaging.requirements import Requirement

    out = {}
    for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        req = Requirement(line)
        lows = [s.version for s in req.specifier if s.operator == ">="]
        if len(lows) != 1:
            raise ValueError(f"{line!r}: give exactly one floor (>=)")
        out[re.sub(r"[-_.]+", "-", req.name).lower()] = lows[0]
    return out


def extra(name: str, pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirements of extra ``name``, self-references expanded, runtime ones left out."""
    try:
        import tomllib
    except ImportError:
        import tomli as tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads(pyproject.read_text())["project"]
    pinned = set(floors(pyproject))
    out: list[str] = []
    todo, seen = [name], set()
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.add(current)
        for line in project["optional-dependencies"][current]:
            req = Requirement(line)
            if req.name == project["name"]:
                todo += sorted(req.extras)
            elif re.sub(r"[-_.]+", "-", req.name).lower() not in pinned and line not in out:
                out.append(line)
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--extra"]:
        sys.stdout.write("".join(f"{line}\n" for line in extra(sys.argv[2])))
    else:
        sys.stdout.write("".join(f"{n}=={v}\n" for n, v in floors().items()))
