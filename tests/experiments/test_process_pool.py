"""`ltlab.experiments.process_pool.map_tasks` on Binder: the tasks run in the kernel (no
worker processes that import torch again), each with one thread as a worker would."""

from __future__ import annotations

import os

import pytest
import torch

from ltlab.experiments.process_pool import map_tasks, worker_limit


@pytest.mark.parametrize("switch", ["BINDER_REQUEST", "BINDER_SERVICE_HOST", "LTLAB_WORKERS"])
def test_capped_to_one_worker_runs_here_with_one_thread(monkeypatch, switch):
    for name in ("BINDER_REQUEST", "BINDER_SERVICE_HOST", "LTLAB_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(switch, "1" if switch == "LTLAB_WORKERS" else "v2/gh/o/ltlab/HEAD")
    threads = torch.get_num_threads()
    # a lambda cannot be pickled: a process pool would fail here
    seen = map_tasks(lambda t: (t * t, os.getpid(), torch.get_num_threads()), [1, 2, 3],
                     workers=2)
    assert [s[0] for s in seen] == [1, 4, 9]
    assert {s[1] for s in seen} == {os.getpid()} and {s[2] for s in seen} == {1}
    assert torch.get_num_threads() == threads  # restored


def test_worker_limit_reads_the_environment():
    assert worker_limit({"BINDER_SERVICE_HOST": "10.0.0.1"}) == 1
    assert worker_limit({"LTLAB_WORKERS": "3", "BINDER_REQUEST": "x"}) == 3
    assert worker_limit({"JUPYTERHUB_USER": "me"}) is None
    with pytest.raises(ValueError, match="LTLAB_WORKERS"):
        worker_limit({"LTLAB_WORKERS": "two"})
