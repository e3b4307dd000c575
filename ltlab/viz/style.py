"""Colours and shot-group styling, in one place for every figure builder of `ltlab.viz`.

A class's shot group (many / medium / few) is decided by its training count with the
thresholds of `ltlab.metrics.shot_groups`, so a bar's colour always agrees with the group
the metrics put the class in.

>>> shot_group_labels([500, 50, 5])
['many', 'medium', 'few']
>>> [GROUP_COLORS[g] for g in shot_group_labels([500, 5])]
['#1f77b4', '#d62728']
"""

from __future__ import annotations

from ..metrics import shot_groups

__all__ = ["GROUP_COLORS", "shot_group_labels"]

#: one colour per shot group, used by every figure that colours classes by group
GROUP_COLORS = {"many": "#1f77b4", "medium": "#ff7f0e", "few": "#d62728"}


def shot_group_labels(counts, many: int = 100, few: int = 20) -> list[str]:
    """The shot group of each class, in class order (``"many"``: more than ``many`` training
    images; ``"few"``: fewer than ``few``; ``"medium"`` otherwise)."""
    labels = [""] * len(counts)
    for name, classes in shot_groups(counts, many, few).items():
        for c in classes.tolist():
            labels[c] = name
    return labels
