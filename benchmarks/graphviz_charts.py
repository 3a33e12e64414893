"""Random flowcharts drawn by Graphviz, with their exact truth graphs (a stand-in test set).

Graphviz tells where it put every node (``-Tjson``), so each PNG comes with its true boxes,
shapes, texts and arrows. Used to make ``fixtures/charts/`` and by ``bench_classical.py`` when
the synthetic generator is not installed.

    python benchmarks/graphviz_charts.py OUT_DIR --count 20 --seed 7
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
from pathlib import Path

import networkx as nx
from flowparse.converters.json_graph import to_json

from flowparse.graph import add_arrow, add_shape, new_graph

__all__ = ["GV_SHAPES", "random_chart_dot", "render_chart", "make_charts"]

#: Canonical shape -> Graphviz node attributes that draw it.
GV_SHAPES = {
    "rectangle": {"shape": "box"},
    "rounded_rectangle": {"shape": "box", "style": "rounded"},
    "ellipse": {"shape": "ellipse"},
    "circle": {"shape": "circle"},
    "double_circle": {"shape": "doublecircle"},
    "diamond": {"shape": "diamond"},
    "hexagon": {"shape": "hexagon"},
    "parallelogram": {"shape": "parallelogram"},
    "trapezoid": {"shape": "trapezium"},
    "trapezoid_alt": {"shape": "invtrapezium"},
    "cylinder": {"shape": "cylinder"},
}

_EN = [
    "Start",
    "End",
    "Read input",
    "Validate data",
    "Save record",
    "Send email",
    "Retry",
    "Load config",
    "Compute total",
    "Print report",
    "Update stock",
    "Notify user",
    "Check out",
    "Sort list",
    "Login",
    "Build package",
    "Run tests",
    "Deploy",
    "Archive",
    "Pay invoice",
]
_ZH = [
    "开始",
    "结束",
    "读取输入",
    "验证数据",
    "保存记录",
    "发送邮件",
    "重试",
    "加载配置",
    "计算总价",
    "打印报表",
    "更新库存",
    "通知用户",
    "排序列表",
    "登录",
    "运行测试",
    "部署",
    "归档",
]
_QUESTIONS = ["Valid?", "OK?", "Found?", "More items?", "Approved?", "是否有效？", "通过？"]
_FILLS = ["#cfe2ff", "#d1e7dd", "#fff3cd", "#f8d7da", "#e2d9f3", "#2f5597", "#c00000"]


def random_chart_dot(rng: random.Random, n_nodes: int | None = None) -> tuple[str, dict]:
    """A random flowchart as DOT source, and the truth it encodes (without boxes)."""
    n = n_nodes or rng.randint(4, 14)
    zh = rng.random() < 0.3
    words = _ZH if zh else _EN
    nodes, edges = [], []
    for i in range(n):
        shape = rng.choice(list(GV_SHAPES)) if 0 < i < n - 1 else rng.choice(["ellipse", "rounded_rectangle", "circle"])
        text = rng.choice(_QUESTIONS) if shape == "diamond" else rng.choice(words)
        nodes.append(
            {"id": f"v{i}", "shape": shape, "text": text, "fill": rng.choice(_FILLS) if rng.random() < 0.25 else None}
        )
    for i in range(1, n):
        src = rng.randrange(max(0, i - 3), i)
        label = ""
        if nodes[src]["shape"] == "diamond":
            label = rng.choice(["yes", "no", "是", "否"])
        arrow = "both" if rng.random() < 0.05 else "none" if rng.random() < 0.05 else "normal"
        edges.append({"u": f"v{src}", "v": f"v{i}", "label": label, "arrow": arrow})
    if n > 4 and rng.random() < 0.5:  # a loop back
        a, b = sorted(rng.sample(range(1, n - 1), 2))
        if not any(e["u"] == f"v{b}" and e["v"] == f"v{a}" for e in edges):
            edges.append({"u": f"v{b}", "v": f"v{a}", "label": "", "arrow": "normal"})
    style = {
        "rankdir": rng.choice(["TB", "TB", "LR"]),
        "splines": rng.choice(["spline", "ortho", "polyline", "line"]),
        "penwidth": rng.choice([1.0, 1.0, 1.5, 2.5]),
        "font": "Noto Sans CJK SC" if zh else rng.choice(["DejaVu Sans", "Liberation Sans", "Noto Sans CJK SC"]),
        "dpi": rng.choice([96, 110, 130]),
    }
    lines = [
        f"digraph G {{ dpi={style['dpi']}; rankdir={style['rankdir']}; splines={style['splines']};",
        "  nodesep=0.5; ranksep=0.5;",
        f'  node [fontname="{style["font"]}", penwidth={style["penwidth"]}, fontsize=14];',
        f'  edge [fontname="{style["font"]}", penwidth={style["penwidth"]}, fontsize=12];',
    ]
    for node in nodes:
        attrs = dict(GV_SHAPES[node["shape"]])
        if node["fill"]:
            attrs["style"] = ",".join(filter(None, [attrs.get("style"), "filled"]))
            attrs["fillcolor"] = node["fill"]
            if node["fill"] in ("#2f5597", "#c00000"):
                attrs["fontcolor"] = "white"
        attrs["label"] = node["text"]
        lines.append(
            f"  {node['id']} [{', '.join(f'{k}={json.dumps(v, ensure_ascii=False)}' for k, v in attrs.items())}];"
        )
    for e in edges:
        attrs = {"dir": {"normal": "forward", "both": "both", "none": "none"}[e["arrow"]]}
        if e["label"]:
            attrs["xlabel" if style["splines"] == "ortho" else "label"] = e["label"]
        spelled = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in attrs.items())
        lines.append(f"  {e['u']} -> {e['v']} [{spelled}];")
    lines.append("}")
    return "\n".join(lines), {"nodes": nodes, "edges": edges, "style": style}


def render_chart(dot_source: str, truth: dict, png_path: Path) -> nx.DiGraph:
    """Render ``dot_source`` to ``png_path`` and return the truth graph with pixel boxes."""
    subprocess.run(["dot", "-Tpng", "-o", str(png_path)], input=dot_source.encode(), check=True)
    layout = json.loads(
        subprocess.run(["dot", "-Tjson"], input=dot_source.encode(), check=True, capture_output=True).stdout
    )
    scale = truth["style"]["dpi"] / 72.0
    _, _, bb_w, bb_h = (float(v) for v in layout["bb"].split(","))
    pad = 4.0  # Graphviz's default pad, in points, on every side
    from PIL import Image

    with Image.open(png_path) as im:
        width, height = im.size
    G = new_graph(width, height, source=png_path.name, backend="graphviz")
    by_name = {n["id"]: n for n in truth["nodes"]}
    for obj in layout["objects"]:
        x, y = (float(v) for v in obj["pos"].split(","))
        w, h = float(obj["width"]) * 72, float(obj["height"]) * 72
        box = (
            (x - w / 2 + pad) * scale,
            (bb_h - y - h / 2 + pad) * scale,
            (x + w / 2 + pad) * scale,
            (bb_h - y + h / 2 + pad) * scale,
        )
        box = (max(0.0, box[0]), max(0.0, box[1]), min(width, box[2]), min(height, box[3]))
        node = by_name[obj["name"]]
        add_shape(G, node["shape"], box, node["text"], node_id=obj["name"])
    for e in truth["edges"]:
        add_arrow(G, e["u"], e["v"], label=e["label"], arrow=e["arrow"])
    return G


def make_charts(out_dir: Path, count: int, seed: int, max_nodes: int = 14) -> list[tuple[Path, Path]]:
    """Write ``count`` charts as ``chart-<seed>-<k>.png`` with ``.json`` truth; return the pairs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pairs = []
    for k in range(count):
        source, truth = random_chart_dot(rng, rng.randint(4, max_nodes))
        png = out_dir / f"chart-{seed}-{k:03d}.png"
        png.with_suffix(".dot").write_text(source, encoding="utf-8")
        G = render_chart(source, truth, png)
        truth_path = png.with_suffix(".json")
        truth_path.write_text(to_json(G), encoding="utf-8")
        pairs.append((png, truth_path))
    return pairs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-nodes", type=int, default=14)
    args = parser.parse_args()
    for png, _ in make_charts(args.out_dir, args.count, args.seed, args.max_nodes):
        print(png)
