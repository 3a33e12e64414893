"""Training recipes: small classes with ``setup``, ``train``, ``save_checkpoint`` and ``cleanup``.

``full`` trains every unfrozen weight; ``lora`` trains LoRA adapters (and whatever else the
config unfreezes). Recipes are looked up by the config's ``recipe`` name.

>>> sorted(RECIPES)
['full', 'lora']
"""

from __future__ import annotations

__all__ = ["RECIPES", "recipe_class", "run_recipe"]

#: Recipe name -> "module:class", imported on use so that listing them stays light.
RECIPES: dict[str, str] = {
    "full": "flowparse.training.recipes.full_finetune:FullFinetuneRecipe",
    "lora": "flowparse.training.recipes.lora_finetune:LoRAFinetuneRecipe",
}


def recipe_class(name: str):
    """The recipe class registered as ``name``.

    >>> recipe_class("full").__name__  # doctest: +SKIP
    'FullFinetuneRecipe'
    """
    import importlib

    try:
        module, attr = RECIPES[name].split(":")
    except KeyError:
        raise ValueError(f"unknown recipe {name!r} (known: {', '.join(sorted(RECIPES))})") from None
    return getattr(importlib.import_module(module), attr)


def run_recipe(cfg, **options) -> dict:
    """Set up, train and clean up the recipe ``cfg`` names; the run's summary.

    ``options`` go to the recipe class (``log``, ``on_step_end``). ``flowparse train`` is this
    plus config loading; notebooks and tests call it directly.

    >>> run_recipe(load_config("training/configs/tiny_cpu.yaml", overrides))["final_loss"]  # doctest: +SKIP
    0.04
    """
    recipe = recipe_class(cfg.recipe)(cfg, **options)
    try:
        recipe.setup()
        return recipe.train()
    finally:
        recipe.cleanup()
