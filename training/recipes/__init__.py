"""Training recipes: small classes with ``setup``, ``train``, ``save_checkpoint`` and ``cleanup``.

``full`` trains every unfrozen weight; ``lora`` trains LoRA adapters (and whatever else the
config unfreezes). Recipes are looked up by the config's ``recipe`` name.

>>> sorted(RECIPES)
['full', 'lora']
"""

from __future__ import annotations

__all__ = ["RECIPES", "recipe_class"]

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
