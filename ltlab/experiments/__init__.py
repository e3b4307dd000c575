"""Teaching floor: one driver per notebook, each following `ltlab.experiments.protocol`.

``settings(quick)`` -> a frozen settings dataclass (the notebook's sizes, ``fit``'s options as
a nested `~ltlab.experiments.protocol.FitOptions`); ``compare(settings, *, seeds, device,
workers)`` -> a small dataclass with ``.rows()``; ``recorded_results(result)`` -> the
notebook's contract keys; ``BANDS`` / ``FULL_BANDS`` -> the checks on them. Import the driver
of the notebook you need (``from ltlab.experiments import lda``); `full_size.DRIVERS` maps
each notebook to its driver. A notebook with several parts has a driver package whose
submodules hold the parts (``ltlab.experiments.flexda.arms``, ``ltlab.experiments.gh.sphere``)
and whose ``__init__`` re-exports them.
"""
