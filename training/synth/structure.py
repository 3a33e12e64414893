"""The chart structure sampler: realistic flowchart topologies with roles, shapes and texts.

A chart is grown like a program: a start terminator, then a body of blocks (steps, input and
output, if/else with yes/no branches that merge again, loops that jump back, multi-way switches,
subroutine calls, database and document side nodes, off-page connectors), then one or more end
terminators. Every open branch end is wired to the next node, so the result reads like a chart a
person drew, not shapes on a grid.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from flowparse.training.synth.phrases import BRANCH_LABELS, EDGE_LABELS, GROUP_TITLES, phrase, wrap_text

__all__ = ["ChartNode", "ChartEdge", "ChartSpec", "ROLE_SHAPES", "sample_chart", "pick_groups", "MAX_SIDEWAYS_RANKS"]

#: Role -> (canonical shape, weight): the shapes people draw for each role.
ROLE_SHAPES: dict[str, tuple[tuple[str, float], ...]] = {
    "start": (("stadium", 5), ("rounded_rectangle", 2), ("ellipse", 2), ("circle", 0.5)),
    "end": (("stadium", 5), ("rounded_rectangle", 2), ("ellipse", 2), ("double_circle", 0.7)),
    "process": (("rectangle", 10), ("rounded_rectangle", 2)),
    "decision": (("diamond", 12), ("hexagon", 0.6)),
    "io": (("parallelogram", 5), ("parallelogram_alt", 1.5)),
    "subroutine": (("subroutine", 1),),
    "database": (("cylinder", 1),),
    "document": (("document", 1),),
    "preparation": (("hexagon", 1),),
    "manual": (("trapezoid", 1), ("trapezoid_alt", 1)),
    "connector": (("circle", 3), ("double_circle", 0.5)),
    "note": (("asymmetric", 1),),
}


@dataclass
class ChartNode:
    """One shape of a chart before it is drawn: its id, role, canonical shape and text."""

    id: str
    role: str
    shape: str
    text: str


@dataclass
class ChartEdge:
    """One arrow: ends, label, arrow kind (graph contract), and whether it jumps back (a loop)."""

    source: str
    target: str
    label: str = ""
    arrow: str = "normal"
    back: bool = False


@dataclass
class ChartSpec:
    """A chart's structure: nodes in creation order (ids ``n0``, ``n1``, ...), edges, language."""

    nodes: list[ChartNode] = field(default_factory=list)
    edges: list[ChartEdge] = field(default_factory=list)
    language: str = "en"
    title: str = ""

    def node(self, node_id: str) -> ChartNode:
        """The node with id ``node_id``."""
        return self.nodes[int(node_id[1:])]

    def ranks(self) -> dict[str, int]:
        """Each node's layer: the longest path to it along forward (non-loop) arrows.

        >>> spec = ChartSpec([ChartNode("n0", "start", "stadium", "a"), ChartNode("n1", "end", "stadium", "b")],
        ...                  [ChartEdge("n0", "n1"), ChartEdge("n1", "n0", back=True)])
        >>> spec.ranks()
        {'n0': 0, 'n1': 1}
        """
        import networkx as nx

        dag = nx.DiGraph()
        dag.add_nodes_from(n.id for n in self.nodes)
        dag.add_edges_from((e.source, e.target) for e in self.edges if not e.back)
        while not nx.is_directed_acyclic_graph(dag):  # structures mark their loops; this is a safety net
            u, v = nx.find_cycle(dag)[-1][:2]
            dag.remove_edge(u, v)
        rank: dict[str, int] = {}
        for node in nx.topological_sort(dag):
            rank[node] = max((rank[p] + 1 for p in dag.predecessors(node)), default=0)
        return {n.id: rank[n.id] for n in self.nodes}

    def sideways_ok(self) -> bool:
        """Whether the chart is shallow enough to lay out left to right (see MAX_SIDEWAYS_RANKS)."""
        return max(self.ranks().values(), default=0) + 1 <= MAX_SIDEWAYS_RANKS


#: Charts deeper than this many ranks are laid out top-down: a long chain drawn left to right
#: becomes a thin strip whose text is unreadable once the image is scaled to a sane width.
MAX_SIDEWAYS_RANKS = 7

Frontier = list[tuple[str, str]]  # open branch ends: (node id, label of the arrow leaving it)


class _Builder:
    """Grows one chart; the sampler's state (rng, budget, texts already used)."""

    def __init__(self, rng: random.Random, language: str, budget: int, wrap: int):
        self.rng, self.language, self.budget, self.wrap = rng, language, budget, wrap
        self.spec = ChartSpec(language=language)
        lang = language if language != "mixed" else rng.choice(("en", "zh"))
        self.branch_labels = rng.choice(BRANCH_LABELS[lang])
        self.edge_label_rate = rng.choice((0.0, 0.0, 0.05, 0.15))

    def add_node(self, role: str, frontier: Frontier) -> str:
        shapes, weights = zip(*ROLE_SHAPES[role])
        shape = self.rng.choices(shapes, weights)[0]
        text = phrase(role, self.language, self.rng)
        if shape in ("circle", "double_circle") and role != "connector":
            # A round shape grows with its text: people write one short word in it.
            text = min((phrase(role, self.language, self.rng) for _ in range(4)), key=len)
        if self.wrap and len(text) > self.wrap and role != "decision" or self.rng.random() < 0.05:
            text = wrap_text(text, self.wrap or 12)
        node_id = f"n{len(self.spec.nodes)}"
        self.spec.nodes.append(ChartNode(node_id, role, shape, text))
        for source, label in frontier:
            self.connect(source, node_id, label)
        return node_id

    def connect(self, source: str, target: str, label: str = "", *, back: bool = False, arrow: str = "normal") -> None:
        if source == target or any(e.source == source and e.target == target for e in self.spec.edges):
            return  # a DiGraph holds one arrow per ordered pair
        if not label and self.rng.random() < self.edge_label_rate:
            lang = self.language if self.language != "mixed" else self.rng.choice(("en", "zh"))
            label = self.rng.choice(EDGE_LABELS[lang])
        self.spec.edges.append(ChartEdge(source, target, label, arrow, back))

    @property
    def left(self) -> int:
        return self.budget - len(self.spec.nodes)

    def sequence(self, frontier: Frontier, depth: int, length: int) -> Frontier:
        """``length`` blocks one after another, starting from the open ends ``frontier``."""
        for _ in range(length):
            if self.left <= 1 or not frontier:  # keep one node for the end terminator
                break
            frontier = self.block(frontier, depth)
        return frontier

    def block(self, frontier: Frontier, depth: int) -> Frontier:
        kinds = {"step": 6.0, "io": 1.2, "subroutine": 0.5, "database": 0.6, "document": 0.4,
                 "preparation": 0.3, "manual": 0.3, "connector": 0.15, "note": 0.15}
        if depth < 3 and self.left >= 4:
            kinds.update({"if": 2.5, "loop": 1.2, "retry": 0.6, "early_exit": 0.6})
        if depth < 2 and self.left >= 7:
            kinds["switch"] = 0.4
        kind = self.rng.choices(list(kinds), list(kinds.values()))[0]
        return getattr(self, f"_{kind}", self._simple(kind))(frontier, depth)

    def _simple(self, kind: str):
        role = {"step": "process"}.get(kind, kind)
        return lambda frontier, depth: [(self.add_node(role, frontier), "")]

    def _database(self, frontier: Frontier, depth: int) -> Frontier:
        step = self.add_node("process", frontier)
        db = self.add_node("database", [])
        arrow, (a, b) = self.rng.choice((("normal", (step, db)), ("normal", (db, step)), ("both", (step, db)),
                                         ("none", (step, db))))
        self.connect(a, b, arrow=arrow)
        return [(step, "")]

    def _document(self, frontier: Frontier, depth: int) -> Frontier:
        if self.rng.random() < 0.5:  # a report printed on the side of the main flow
            step = self.add_node("process", frontier)
            self.connect(step, self.add_node("document", []))
            return [(step, "")]
        return [(self.add_node("document", frontier), "")]

    def _if(self, frontier: Frontier, depth: int) -> Frontier:
        yes, no = self.branch_labels
        decision = self.add_node("decision", frontier)
        taken = self.sequence([(decision, yes)], depth + 1, self.rng.randint(1, 3))
        other = self.sequence([(decision, no)], depth + 1, self.rng.choice((0, 1, 1, 2)))
        return taken + other

    def _early_exit(self, frontier: Frontier, depth: int) -> Frontier:
        yes, no = self.branch_labels
        if self.rng.random() < 0.5:
            yes, no = no, yes
        decision = self.add_node("decision", frontier)
        failed = self.sequence([(decision, no)], depth + 1, self.rng.choice((0, 1)))
        self.add_node("end", failed)
        return [(decision, yes)]

    def _loop(self, frontier: Frontier, depth: int) -> Frontier:
        yes, no = self.branch_labels
        first = len(self.spec.nodes)
        body = self.sequence(frontier, depth + 1, self.rng.randint(1, 3))
        if len(self.spec.nodes) == first:
            return body
        decision = self.add_node("decision", body)
        self.connect(decision, f"n{first}", yes, back=True)
        return [(decision, no)]

    def _retry(self, frontier: Frontier, depth: int) -> Frontier:
        yes, no = self.branch_labels
        step = self.add_node("process", frontier)
        decision = self.add_node("decision", [(step, "")])
        self.connect(decision, step, no, back=True)
        return [(decision, yes)]

    def _switch(self, frontier: Frontier, depth: int) -> Frontier:
        decision = self.add_node("decision", frontier)
        ends: Frontier = []
        names = self.rng.choice(("case {}", "{}", "ABCD", "类型{}" if self.language != "en" else "type {}"))
        for k in range(self.rng.randint(3, 4)):
            label = names[k] if names == "ABCD" else names.format(k + 1)
            ends += self.sequence([(decision, label)], depth + 1, 1)
        return ends


def sample_chart(rng: random.Random, *, min_nodes: int = 3, max_nodes: int = 30, language: str = "en") -> ChartSpec:
    """A random chart of ``min_nodes``..``max_nodes`` nodes in ``language`` ("en", "zh", "mixed").

    Node counts lean towards the 6-15 nodes most drawn charts have.

    >>> spec = sample_chart(random.Random(1), max_nodes=12)
    >>> spec.nodes[0].role, 3 <= len(spec.nodes) <= 12
    ('start', True)
    """
    for _ in range(20):  # blocks may overshoot the budget by a node or two: draw again
        spec = _grow_chart(rng, min_nodes, max_nodes, language)
        if len(spec.nodes) <= max_nodes:
            return spec
    return _chain(rng, min_nodes, language)


def _grow_chart(rng: random.Random, min_nodes: int, max_nodes: int, language: str) -> ChartSpec:
    budget = max(min_nodes, min(max_nodes, round(rng.triangular(min_nodes, max_nodes + 1, min(max_nodes, 10)))))
    wrap = rng.choice((0, 0, 10, 14, 18))
    b = _Builder(rng, language, budget, wrap)
    frontier: Frontier = [(b.add_node("start", []), "")]
    while b.left > 1 and frontier:
        frontier = b.sequence(frontier, 0, 1)
    if frontier or len(b.spec.nodes) < min_nodes:
        b.add_node("end", frontier)
    while len(b.spec.nodes) < min_nodes:  # tiny budgets: pad with steps before nothing else
        last = b.spec.nodes[-1].id
        b.add_node("process", [(last, "")])
    return b.spec


def _chain(rng: random.Random, count: int, language: str) -> ChartSpec:
    """Start, steps, end: the fallback when growing keeps overshooting a tiny budget."""
    b = _Builder(rng, language, count, 0)
    node = b.add_node("start", [])
    for _ in range(count - 2):
        node = b.add_node("process", [(node, "")])
    b.add_node("end", [(node, "")])
    return b.spec


def pick_groups(spec: ChartSpec, rng: random.Random) -> list[dict]:
    """One or two frames around runs of consecutive nodes (clusters: boxes that are not nodes),
    each ``{"id", "title", "nodes"}``; the first and last node stay outside."""
    ids = [n.id for n in spec.nodes[1:-1]]
    groups, start = [], 0
    for k in range(rng.randint(1, 2)):
        if len(ids) - start < 2:
            break
        first = rng.randint(start, len(ids) - 2)
        last = rng.randint(first + 1, min(len(ids) - 1, first + 5))
        title = rng.choice(GROUP_TITLES["zh" if spec.language == "zh" else "en"])
        groups.append({"id": f"cluster_{k}", "title": title, "nodes": ids[first : last + 1]})
        start = last + 1
    return groups
