"""The papers' standard configurations ("recipes") as data, and one function to run them.

A `Recipe` names everything a paper's standard CIFAR run fixes: the data set and imbalance
ratio, the backbone, the method (by its import path in ltlab, ``"module:Class"``, plus its
keyword arguments), the `ltlab.train.fit` arguments (epochs, batch, optimizer, schedule,
mixup, augmentation) and the number the paper reports. `run_recipe` loads CIFAR with
`ltlab.data.cifar_lt`, builds the model and the method, trains with `ltlab.train.fit` and
evaluates on the balanced test set. From a shell: ``ltlab train RECIPE`` (``ltlab train
--list`` shows them all).

The catalogue is `ltlab.recipes.catalogue`; running one is `ltlab.recipes.run`; the
command's flags are in `ltlab.cli`.

Each recipe lists its ``deviations``: what ltlab does differently from the reference code
(a backbone ltlab does not ship, a warmup that starts from 0 rather than from 1/3 of the
learning rate, ...). A recipe is a claim that these settings reproduce the paper's number
within its spread; the deviations say where that claim is weakest.

The recipes need the CIFAR python-version files (``download=True`` fetches them on a
machine with internet). `write_fake_cifar` writes files in exactly that format with
random pixels (it lives beside the loader, in `ltlab.data`), so the loader, a recipe and the trainer can be run end to end without
the data, as the tests and benchmarks do.

>>> sorted(RECIPES)[:2]
['balpoe-cifar10-lt-ir100', 'balpoe-cifar100-lt-ir100']
>>> get_recipe("balpoe-cifar100-lt-ir100").train["mixup_alpha"]
0.4
"""

from ..data import write_fake_cifar
from .catalogue import RECIPES, Recipe, get_recipe, list_recipes
from .run import RecipeResult, build_method, build_model, load_recipe_data, run_recipe

__all__ = [
    "Recipe",
    "RecipeResult",
    "RECIPES",
    "get_recipe",
    "list_recipes",
    "load_recipe_data",
    "build_model",
    "build_method",
    "run_recipe",
    "write_fake_cifar",
]
