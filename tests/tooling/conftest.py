"""Tests marked ``network`` need the package index (``pip install``, ``python -m build``'s
isolated build environment): offline, or with ``LTLAB_OFFLINE=1``, they are skipped with
the reason, so the default test command passes without network."""

from __future__ import annotations

import os
from functools import lru_cache
from urllib.parse import urlparse

import pytest


@lru_cache(maxsize=1)
def index_unreachable(timeout: float = 3.0) -> str | None:
    """Why the package index cannot be used (``LTLAB_OFFLINE`` set, or no TCP connection to
    its host within ``timeout`` seconds), or None when it answers. Probed once per run."""
    import socket

    if os.environ.get("LTLAB_OFFLINE", "") not in ("", "0"):
        return "LTLAB_OFFLINE is set"
    url = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")
    parsed = urlparse(url)
    host = parsed.hostname or "pypi.org"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        return f"the package index {url} is unreachable ({err})"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("network") is not None:
        offline = index_unreachable()
        if offline:
            pytest.skip(f"needs the package index: {offline}")
