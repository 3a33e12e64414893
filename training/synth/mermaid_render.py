"""The Mermaid renderer: the real ``mermaid`` package draws charts in headless Chromium.

``tools/mermaid/render.mjs`` keeps one browser and one loaded page for a whole run and renders
chart after chart in it (JSON lines in, JSON lines out); boxes come from the SVG elements of
each node's shape, edges from their SVG paths sampled along their length. Classic and
hand-drawn looks, four themes, several curve styles and fonts.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import networkx as nx
from flowparse.training.synth.graphviz_render import RenderError
from flowparse.training.synth.structure import ChartSpec, pick_groups
from flowparse.training.synth.truth import truth_graph
from PIL import Image

__all__ = ["MermaidRenderer", "chart_mermaid", "mermaid_missing", "TOOLS_DIR"]

#: The Node.js project holding mermaid and puppeteer-core (installed by scripts/install-system-deps.sh):
#: the checkout's tools/mermaid, or $FLOWPARSE_MERMAID_TOOLS for an installed (non-editable) flowparse.
TOOLS_DIR = Path(os.environ.get("FLOWPARSE_MERMAID_TOOLS") or Path(__file__).resolve().parents[2] / "tools" / "mermaid")

#: Canonical shape -> Mermaid node syntax ({} is the quoted label).
_SYNTAX = {
    "rectangle": "[{}]", "rounded_rectangle": "({})", "stadium": "([{}])", "subroutine": "[[{}]]",
    "cylinder": "[({})]", "circle": "(({}))", "double_circle": "((({})))", "asymmetric": ">{}]",
    "diamond": "{{{}}}", "hexagon": "{{{{{}}}}}", "parallelogram": "[/{}/]", "parallelogram_alt": "[\\{}\\]",
    "trapezoid": "[/{}\\]", "trapezoid_alt": "[\\{}/]",
}
#: Mermaid has no plain ellipse: a terminator drawn as one comes out a stadium, and the truth says so.
_DRAWN_AS = {"ellipse": "stadium"}
_ARROWS = {"normal": "-->", "none": "---", "both": "<-->"}
_FONTS = ("Liberation Sans", "DejaVu Sans", "Liberation Serif", "Comic Neue", "Humor Sans", "trebuchet ms")


def mermaid_missing() -> str | None:
    """What the Mermaid renderer lacks on this machine (None when it can run).

    >>> mermaid_missing() is None or isinstance(mermaid_missing(), str)
    True
    """
    if shutil.which("node") is None:
        return "Node.js (node) is not installed"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists() and shutil.which("chromium") is None:
        return "chromium is not installed (apt-get install chromium)"
    for package in ("mermaid", "puppeteer-core"):
        if not (TOOLS_DIR / "node_modules" / package).is_dir():
            return f"tools/mermaid/node_modules/{package} is missing (npm ci --prefix tools/mermaid)"
    return None


def _label(text: str) -> str:
    """A quoted Mermaid label showing ``text`` literally (Mermaid's #code; entities, <br/> breaks).

    >>> _label('i < n & "x"\\nok')
    '"i #60; n #38; #quot;x#quot;<br/>ok"'
    """
    escaped = "".join({'"': "#quot;", "<": "#60;", ">": "#62;", "&": "#38;", "#": "#35;"}.get(c, c) for c in text)
    return '"' + escaped.replace("\n", "<br/>") + '"'


def chart_mermaid(spec: ChartSpec, rng: random.Random) -> tuple[str, dict]:
    """Mermaid text drawing ``spec`` in a random look (its front matter holds the config).

    >>> from flowparse.training.synth.structure import sample_chart
    >>> text, style = chart_mermaid(sample_chart(random.Random(0)), random.Random(0))
    >>> text.startswith("---") and "flowchart" in text
    True
    """
    style = {
        "look": rng.choice(("classic", "classic", "handDrawn")),
        "theme": rng.choice(("default", "neutral", "forest", "base")),
        "curve": rng.choice(("basis", "linear", "stepAfter", "cardinal", "monotoneY")),
        "direction": rng.choices(("TD", "LR", "BT", "RL"), (65, 25, 5, 5) if spec.sideways_ok() else (95, 0, 5, 0))[0],
        "font": rng.choice(_FONTS),
        "font_size": rng.choice((13, 14, 16, 18)),
        "scale": rng.choice((1.0, 1.25, 1.5, 2.0)),
        "seed": rng.randint(1, 10**6),
    }
    # Groups draw on their own generator: charts without them stay as they were drawn before.
    framing = random.Random(style["seed"])
    style["groups"] = pick_groups(spec, framing) if framing.random() < 0.15 else []
    font = style["font"] if spec.language == "en" else f"{style['font']}, Noto Sans CJK SC"
    lines = [
        "---", "config:", f"  look: {style['look']}", f"  theme: {style['theme']}",
        f"  handDrawnSeed: {style['seed']}", "  flowchart:", f"    curve: {style['curve']}",
        "  themeVariables:", f'    fontFamily: "{font}"', f"    fontSize: {style['font_size']}px", "---",
        f"flowchart {style['direction']}",
    ]
    for node in spec.nodes:
        shape = _DRAWN_AS.get(node.shape, node.shape)
        if shape == "document":
            lines.append(f"  {node.id}@{{ shape: doc, label: {_label(node.text)} }}")
        else:
            lines.append(f"  {node.id}{_SYNTAX[shape].format(_label(node.text))}")
    for group in style["groups"]:
        lines.append(f"  subgraph {group['id']} [{_label(group['title'])}]")
        lines += [f"    {node}" for node in group["nodes"]]
        lines.append("  end")
    for edge in spec.edges:
        link = _ARROWS[edge.arrow]
        label = f"|{_label(edge.label)}|" if edge.label else ""
        lines.append(f"  {edge.source} {link}{label} {edge.target}")
    return "\n".join(lines) + "\n", style


def _drawn_route(edge: dict, curve: str) -> list:
    """An edge's polyline as drawn. Hand-drawn edges come as Mermaid's route points; a step curve
    turns each hop into a horizontal then a vertical leg, so add those corners.

    >>> _drawn_route({"points": [[0, 0], [10, 5]], "routed": True}, "stepAfter")
    [[0, 0], [10, 0], [10, 5]]
    """
    points = edge["points"]
    if not edge.get("routed") or curve != "stepAfter" or len(points) < 2:
        return points
    out = [points[0]]
    for (_, y0), (x1, y1) in zip(points, points[1:]):
        out += [[x1, y0], [x1, y1]]
    return out


class MermaidRenderer:
    """One Node.js + Chromium process that renders many charts (use it as a context manager)."""

    batch_size = 16

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self.last_texts: dict[str, str] = {}

    def __enter__(self) -> MermaidRenderer:
        missing = mermaid_missing()
        if missing:
            raise RenderError(f"cannot render Mermaid charts: {missing}")
        # stderr goes to a file: a pipe nobody reads could fill up and stall the browser
        self._log = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(["node", str(TOOLS_DIR / "render.mjs")], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)
        ready = self._proc.stdout.readline()  # one line once Chromium has loaded mermaid
        if not ready.startswith('{"ready"'):
            self.__exit__()
            self._log.seek(0)
            problem = (self._log.read()[-500:] or ready[:500]).strip()
            raise RenderError(f"the Mermaid renderer did not start: {problem}")
        return self

    def __exit__(self, *exc) -> None:
        if self._proc:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _ask(self, request: dict) -> dict:
        self._proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
        line = self._proc.stdout.readline()
        if not line:
            raise RenderError("the Mermaid renderer (node tools/mermaid/render.mjs) stopped")
        return json.loads(line)

    def render(self, spec: ChartSpec, rng: random.Random) -> tuple[Image.Image, nx.DiGraph]:
        """Draw ``spec`` in a random Mermaid look; return the image and its truth."""
        text, style = chart_mermaid(spec, rng)
        answer = self._ask({"id": str(style["seed"]), "text": text, "scale": style["scale"]})
        if not answer.get("ok"):
            raise RenderError(f"mermaid failed: {answer.get('error', '')[:300]}")
        image = Image.open(io.BytesIO(base64.b64decode(answer["png"]))).convert("RGB")
        missing = [n.id for n in spec.nodes if n.id not in answer["nodes"]]
        if missing:
            raise RenderError(f"mermaid drew no shape for nodes {missing}")
        points = {(e["source"], e["target"]): _drawn_route(e, style["curve"]) for e in answer["edges"]}
        shapes = {n.id: _DRAWN_AS[n.shape] for n in spec.nodes if n.shape in _DRAWN_AS}
        G = truth_graph(spec, image.size, answer["nodes"], points, renderer="mermaid", shapes=shapes,
                        subgraphs=style["groups"], look=style["look"])
        self.last_texts = answer.get("texts", {})  # what the SVG shows per node (tests compare it)
        return image, G

    def draw_many(self, options, indices, plan_chart):
        """Charts ``indices`` of a run, each drawn again from a new attempt if Mermaid fails.

        Yields ``(plan, image, truth, attempt)`` in order.
        """
        for index in indices:
            error = None
            for attempt in range(5):
                plan = plan_chart(options, index, attempt)
                try:
                    image, G = self.render(plan.spec, plan.rng)
                except RenderError as e:
                    error = e
                    continue
                yield plan, image, G, attempt
                break
            else:
                raise RenderError(f"chart {index}: every Mermaid attempt failed, last: {error}")
