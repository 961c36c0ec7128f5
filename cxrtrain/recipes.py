"""Named training recipes from the papers: each is a set of `cxrtrain fit` option defaults; options given on the
command line override them, and the run's config.json records the recipe and the values used."""

from __future__ import annotations

from dataclasses import dataclass

from cxrlabel.errors import UserError


@dataclass(frozen=True)
class Recipe:
    """A paper's settings as `cxrtrain fit` option values (keys are the option names with `_` for `-`)."""

    name: str
    source: str
    settings: dict


RECIPES = {recipe.name: recipe for recipe in (
    Recipe("chestxray8", "Wang et al. 2017, ChestX-ray8: ResNet-50, transition layer, LSE pooling (r = 10), W-CEL",
           {"backbone": "microsoft/resnet-50", "transition": 1024, "pool": "lse", "lse_r": 10.0, "loss": "wcel"}),
    Recipe("chexnet", "Rajpurkar et al. 2017, CheXNet: DenseNet-121, binary cross-entropy, average pooling, random "
                      "horizontal flips",
           {"backbone": "densenet121", "pool": "avg", "loss": "bce", "flip": True}),
    Recipe("dong2017", "Dong et al. 2017: re-sampling to ≥ 3 % of drawn images per label, 5-crop test "
                       "(top-3 sensitivity is reported by every evaluation)",
           {"min_share": 0.03, "test_crops": "five"}),
)}


# `cxrtrain fit` without --recipe: the recipe with the best out-of-fold mean AUC in benchmarks/nih_small.py (README,
# "Real images, small"); `--recipe none` leaves the options' own defaults (the ChestX-ray8 head, centre crop)
DEFAULT_RECIPE = "dong2017"
NO_RECIPE = "none"


def recipe_settings(name: str) -> dict:
    """The option values of recipe `name` (a one-line error naming the recipes when there is none)."""
    if name not in RECIPES:
        raise UserError(f"--recipe takes {', '.join(RECIPES)} or {NO_RECIPE}, not {name!r}")
    return dict(RECIPES[name].settings)


def apply_recipe(name: str | None, options: dict, explicit: set[str]) -> dict:
    """`options` with recipe `name`'s values for every option not in `explicit` (those given by the user); `none`
    (or no name) leaves them as they are."""
    if not name or name == NO_RECIPE:
        return dict(options)
    return {**options, **{key: value for key, value in recipe_settings(name).items() if key not in explicit}}
