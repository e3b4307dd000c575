"""Deprecated: notebook 01's experiments moved; this module only forwards (until ltlab 0.3).

Logit adjustment itself (the LA loss, post-hoc adjustment, balanced softmax) is
`ltlab.losses`. Notebook 01's driver is `ltlab.experiments.logit_adjustment`; the shared
MNIST-1D-LT recipe and `train_method` are in `ltlab.experiments.mnist1d_setup`; methods by
name (`make_method`, formerly ``build_method``) in `ltlab.experiments.method_registry`; the
exercise checkers in `ltlab.exercises.logit_adjustment`.
"""

from ._deprecation import moved_names

__getattr__ = moved_names(__name__, {
    "METHODS": "ltlab.experiments.method_registry",
    "METHOD_LABELS": "ltlab.experiments.method_registry",
    "build_method": "ltlab.experiments.method_registry:make_method",
    "mnist_recipe": "ltlab.experiments.mnist1d_setup",
    "mnist_data": "ltlab.experiments.mnist1d_setup",
    "Trained": "ltlab.experiments.mnist1d_setup",
    "train_method": "ltlab.experiments.mnist1d_setup",
    "evaluate": "ltlab.experiments.mnist1d_setup",
    "LOSS_TABLE": "ltlab.experiments.logit_adjustment",
    "TAU_GRID": "ltlab.experiments.logit_adjustment",
    "compare_losses": "ltlab.experiments.logit_adjustment",
    "MixtureStudy": "ltlab.experiments.logit_adjustment",
    "mixture_setup": "ltlab.experiments.logit_adjustment",
    "train_mixture_model": "ltlab.experiments.logit_adjustment",
    "mixture_study": "ltlab.experiments.logit_adjustment",
    "mixture_errors": "ltlab.experiments.logit_adjustment",
    "check_balanced_rule": "ltlab.exercises.logit_adjustment",
    "check_la_loss": "ltlab.exercises.logit_adjustment",
})
