"""Teaching floor: one module per notebook, each with the same three verbs.

``settings(quick)`` -> the notebook's sizes; ``compare(...)`` -> a small dataclass with
``.rows()``; ``recorded_results(result)`` -> the notebook's contract keys. Import the module
of the notebook you need (``from ltlab.experiments import balpoe``).
"""
