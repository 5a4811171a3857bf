"""The catalogue of built-in datasets: `NAMED_DATASETS` and the lookup `named_dataset`.

The recipes themselves (what each name means, per size) are in `_named_recipes`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from . import _named_recipes as recipes
from ._ode_recipe import ODEDatasetRecipe
from ._recipe import DatasetRecipe

__all__ = ["NAMED_DATASETS", "SIZES", "named_dataset"]

SIZES = ("cpu", "paper")

_RECIPES: dict[str, Callable[[str], DatasetRecipe | ODEDatasetRecipe]] = {
    "burgers": recipes.burgers,
    "ks": recipes.ks,
    "ns": recipes.ns,
    "allen_cahn": recipes.allen_cahn,
    "advection": recipes.advection,
    "odes": recipes.odes,
}
NAMED_DATASETS: tuple[str, ...] = tuple(_RECIPES)


def named_dataset(name: str, size: str = "cpu", **params: Any) -> DatasetRecipe:
    """The recipe of a built-in dataset (each is described in ``_named_recipes``).

    Args:
        name: one of :data:`NAMED_DATASETS` (``"burgers"``, ``"ks"``, ``"ns"``,
            ``"allen_cahn"``, ``"advection"``, ``"odes"``: an ``ODEDatasetRecipe``).
        size: ``"cpu"`` (default; sized for a CPU) or ``"paper"`` (the published size).
        **params: override the PDE's constructor arguments, e.g. ``nu=0.1`` for Burgers.

    Returns:
        A frozen :class:`DatasetRecipe` (``pde``, ``initial_condition``, ``t``, ``dt``,
        ``burn_in``, ``stride``, ``splits``, ``seed``, ``description``, ...).

    Raises:
        ValueError: unknown name, size or parameter (the message lists the valid ones), or
            a parameter value the PDE rejects.

    Examples:
        >>> recipe = named_dataset("burgers", size="cpu", nu=0.05)
        >>> recipe.pde.nu, recipe.stored_shape, recipe.splits
        (0.05, (1024,), (1000, 100, 200))
    """
    if name not in _RECIPES:
        raise ValueError(
            f"unknown dataset name {name!r}; built-in datasets are {', '.join(NAMED_DATASETS)} "
            "(or pass an AbstractPDE instance with initial_condition= and t=)."
        )
    if size not in SIZES:
        raise ValueError(f"`size` must be one of {SIZES}, got {size!r}.")
    recipe = _RECIPES[name](size)
    if not isinstance(recipe, DatasetRecipe):  # "odes": an ODEDatasetRecipe, no PDE to tune
        if params:
            raise ValueError(
                f"dataset {name!r} takes no parameters, got {sorted(params)}; its systems "
                "and coefficient laws are fixed (see opkit.pde_data.ODE_SYSTEMS)."
            )
        return recipe
    if params:
        valid = [f.name for f in dataclasses.fields(recipe.pde)]  # type: ignore[arg-type]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for dataset {name!r} "
                f"({type(recipe.pde).__name__}); valid parameters: {', '.join(valid)}."
            )
        pde = dataclasses.replace(recipe.pde, **params)
        ic = recipe.initial_condition
        if "length" in params and "length" in {f.name for f in dataclasses.fields(ic)}:
            # The sampler lives on the same periodic domain as the PDE.
            ic = dataclasses.replace(ic, length=params["length"])
        recipe = dataclasses.replace(recipe, pde=pde, initial_condition=ic)
    return recipe
