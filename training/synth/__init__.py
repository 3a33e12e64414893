"""The synthetic flowchart generator (``flowparse data synth``): charts with exact ground truth.

Light on purpose: no torch. Structures come from :mod:`.structure`, pictures from three
renderers (:mod:`.graphviz_render`, :mod:`.mermaid_render`, :mod:`.pil_render`), page and camera
effects from :mod:`.degrade`, and :mod:`.engine` runs it all deterministically per (seed, index).

>>> from flowparse.training.synth import SynthOptions, draw_chart
>>> image, G, info = draw_chart(SynthOptions(seed=0, renderers=("pil",)), 3)
>>> G.graph["backend"]
'synth:pil'
"""

from flowparse.training.synth.engine import RENDERERS, SynthOptions, draw_chart, generate, plan_chart

__all__ = ["RENDERERS", "SynthOptions", "draw_chart", "generate", "plan_chart"]
