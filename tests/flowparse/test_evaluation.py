"""The evaluation harness: perfect scores for truth itself, expected drops for known damage."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from click.testing import CliRunner
from flowparse.converters.json_graph import write_json

from flowparse.cli import main
from flowparse.evaluation import edit_distance, evaluate, evaluate_dirs, format_report, match_nodes, write_report
from flowparse.graph import add_arrow, add_shape, new_graph

SHAPE_CYCLE = ("stadium", "rectangle", "diamond", "parallelogram", "cylinder")


def chart(n: int = 10, *, width: int = 400) -> object:
    """A chain of n nodes, one per row, plus a labelled loop back: n nodes, n edges."""
    G = new_graph(width, 60 * n + 20, source="t.png", backend="test")
    for k in range(n):
        add_shape(G, SHAPE_CYCLE[k % 5], (100, 20 + 60 * k, 300, 60 + 60 * k), f"Step {k}", score=1.0 - k / 100)
    for k in range(n - 1):
        add_arrow(G, f"n{k}", f"n{k + 1}", label="yes" if k % 3 == 0 else "")
    add_arrow(G, f"n{n - 1}", "n1", label="retry")
    return G


def perfect(result) -> bool:
    return (result["nodes"]["f1"] == result["edges"]["f1"] == result["shape_accuracy"] == result["text_exact"]
            == result["edge_label_accuracy"] == result["arrow_accuracy"] == result["diagram_exact"] == 1.0
            and result["text_cer"] == 0.0
            and result["map"]["map"] == pytest.approx(1.0))


def test_truth_against_itself_scores_perfectly():
    graphs = [chart(10), chart(4), chart(7)]
    assert perfect(evaluate(graphs, graphs))


@pytest.mark.parametrize("dropped", [1, 2, 5])
def test_dropping_nodes_costs_exactly_their_share_of_recall(dropped):
    truth = chart(10)
    pred = truth.copy()
    gone = [f"n{k}" for k in range(3, 3 + dropped)]
    pred.remove_nodes_from(gone)
    lost_edges = sum(1 for u, v in truth.edges if u in gone or v in gone)
    r = evaluate([truth], [pred])
    assert r["nodes"]["recall"] == pytest.approx((10 - dropped) / 10)
    assert r["nodes"]["precision"] == 1.0
    assert r["edges"]["recall"] == pytest.approx((10 - lost_edges) / 10) and r["edges"]["precision"] == 1.0
    assert r["diagram_exact"] == 0.0


@pytest.mark.parametrize("shifted", [1, 3])
def test_boxes_shifted_off_their_shape_are_missed_and_extra(shifted):
    truth = chart(10, width=600)  # room to the right: a box off the image would break the whole prediction
    pred = truth.copy()
    for k in range(shifted):  # 180 px right of a 200 px box: IoU 20/380 < 0.5
        x1, y1, x2, y2 = pred.nodes[f"n{k}"]["bbox"]
        pred.nodes[f"n{k}"]["bbox"] = (x1 + 180, y1, x2 + 180, y2)
    r = evaluate([truth], [pred])
    assert r["nodes"]["recall"] == pytest.approx((10 - shifted) / 10)
    assert r["nodes"]["precision"] == pytest.approx((10 - shifted) / 10)


def test_small_shifts_still_match():
    truth = chart(6)
    pred = truth.copy()
    for node in pred:
        x1, y1, x2, y2 = pred.nodes[node]["bbox"]
        pred.nodes[node]["bbox"] = (x1 + 20, y1 + 2, x2 + 20, y2 + 2)  # IoU ~0.78
    r = evaluate([truth], [pred])
    assert r["nodes"]["f1"] == 1.0 and r["edges"]["f1"] == 1.0
    assert r["map"]["map50"] == pytest.approx(1.0) and r["map"]["map"] < 1.0  # stricter IoUs see the shift


@pytest.mark.parametrize("flipped", [1, 4])
def test_flipped_edges_count_as_wrong_direction(flipped):
    truth = chart(10)
    pred = truth.copy()
    for k in range(flipped):
        data = pred.edges[f"n{k}", f"n{k + 1}"]
        pred.remove_edge(f"n{k}", f"n{k + 1}")
        pred.add_edge(f"n{k + 1}", f"n{k}", **data)
    r = evaluate([truth], [pred])
    assert r["edges"]["precision"] == pytest.approx((10 - flipped) / 10)
    assert r["edges"]["recall"] == pytest.approx((10 - flipped) / 10)
    assert r["nodes"]["f1"] == 1.0


@pytest.mark.parametrize("arrow", ["none", "both"])
def test_symmetric_arrows_match_either_way(arrow):
    # A plain line and a two-headed arrow look the same from either end.
    truth = chart(3)
    truth.edges["n0", "n1"]["arrow"] = arrow
    pred = truth.copy()
    data = pred.edges["n0", "n1"]
    pred.remove_edge("n0", "n1")
    pred.add_edge("n1", "n0", **data)
    assert evaluate([truth], [pred])["edges"]["f1"] == 1.0


def test_missed_heads_lower_arrow_accuracy_only():
    # An edge found between the right nodes, in the right order, but drawn with the wrong heads:
    # it counts as found; the heads are scored on their own.
    truth = chart(10)
    pred = truth.copy()
    pred.edges["n0", "n1"]["arrow"] = "none"
    pred.edges["n1", "n2"]["arrow"] = "both"
    r = evaluate([truth], [pred])
    assert r["edges"]["f1"] == 1.0 and r["edge_label_accuracy"] == 1.0
    assert r["arrow_accuracy"] == pytest.approx(0.8)
    assert r["arrow_confusion"]["normal"] == {"normal": 8, "none": 1, "both": 1}
    assert r["arrow_confusion"]["none"] == {"normal": 0, "none": 0, "both": 0}
    report = format_report(r)
    assert "| arrow accuracy | 0.8000 |" in report and "| normal | 8 | 1 | 1 |" in report


def test_wrong_shapes_texts_and_labels_lower_their_own_metrics_only():
    truth = chart(10)
    pred = truth.copy()
    pred.nodes["n0"]["shape"] = "hexagon"
    pred.nodes["n1"]["shape"] = "hexagon"
    pred.nodes["n2"]["text"] = "Step 2x"  # one edit in 6 characters
    pred.nodes["n4"]["text"] = "  STEP   4 "  # normalised away
    pred.edges["n0", "n1"]["label"] = "no"
    r = evaluate([truth], [pred])
    assert r["nodes"]["f1"] == 1.0 and r["edges"]["f1"] == 1.0
    assert r["shape_accuracy"] == pytest.approx(0.8)
    assert r["text_exact"] == pytest.approx(0.9)
    truth_chars = sum(len(truth.nodes[n]["text"].lower()) for n in truth)
    assert r["text_cer"] == pytest.approx(1 / truth_chars)
    assert r["edge_label_accuracy"] == pytest.approx(0.9)
    assert r["arrow_accuracy"] == 1.0
    assert r["diagram_exact"] == 0.0  # shapes are part of "exact"; texts are not
    labels = r["confusion"]["labels"]
    assert r["confusion"]["matrix"][labels.index("stadium")][labels.index("hexagon")] == 1


def test_subgraphs_are_scored_by_their_nodes_and_titles():
    truth = chart(6)
    truth.graph["subgraphs"] = [{"id": "a", "title": "Setup", "nodes": ["n1", "n2"]},
                                {"id": "b", "title": "Review", "nodes": ["n3", "n4"]}]
    assert evaluate([truth], [truth])["subgraphs"]["f1"] == 1.0
    # node ids differ from the truth's: groups match through the node matching
    pred = nx.relabel_nodes(chart(6), {f"n{k}": f"p{k}" for k in range(6)})
    pred.graph["subgraphs"] = [{"id": "x", "title": "setup ", "nodes": ["p1", "p2"]},   # right
                               {"id": "y", "title": "Review", "nodes": ["p3"]},          # a node short
                               {"id": "z", "title": "", "nodes": ["p0", "p5"]}]          # no such group
    r = evaluate([truth], [pred])
    assert (r["subgraphs"]["tp"], r["subgraphs"]["fp"], r["subgraphs"]["fn"]) == (1, 2, 1)
    assert r["subgraph_title_accuracy"] == 1.0  # compared as texts are: case and spaces aside
    pred.graph["subgraphs"][0]["title"] = "Set up stage"
    assert evaluate([truth], [pred])["subgraph_title_accuracy"] == 0.0
    assert evaluate([chart(3)], [chart(3)])["subgraphs"]["f1"] == 1.0  # none to find, none claimed


def test_extra_nodes_lower_precision():
    truth = chart(4)
    pred = truth.copy()
    add_shape(pred, "circle", (320, 20, 390, 60), "noise", score=0.1)
    r = evaluate([truth], [pred])
    assert r["nodes"]["precision"] == pytest.approx(4 / 5) and r["nodes"]["recall"] == 1.0


def test_matching_is_one_to_one():
    truth = chart(2)
    pred = new_graph(400, 140)
    box = truth.nodes["n0"]["bbox"]
    add_shape(pred, "stadium", box)
    add_shape(pred, "stadium", box)  # a duplicate detection
    assert match_nodes(truth, pred) == {"n0": "n0"}


def test_predictions_made_on_a_resized_image_are_scaled_back():
    truth = chart(3)
    pred = truth.copy()
    pred.graph["width"], pred.graph["height"] = truth.graph["width"] / 2, truth.graph["height"] / 2
    for node in pred:
        pred.nodes[node]["bbox"] = tuple(v / 2 for v in pred.nodes[node]["bbox"])
    assert perfect(evaluate([truth], [pred]))


def test_edit_distance():
    assert edit_distance("", "abc") == 3 and edit_distance("流程图", "流程") == 1 and edit_distance("a", "a") == 0


@pytest.fixture
def folders(tmp_path):
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    for k in range(5):
        write_json(chart(4 + k), truth / f"c{k}.json")
    write_json(chart(4), pred / "c0.json")
    (pred / "c1.json").write_text("{not json")
    nan_box = {"id": "n0", "shape": "rectangle", "bbox": [0, 0, float("nan"), 5]}
    (pred / "c2.json").write_text(json.dumps({"nodes": [nan_box], "edges": []}))  # json writes NaN
    off = chart(7)
    off.nodes["n0"]["bbox"] = (100, 20, 9000, 60)
    off.graph["width"] = 10000  # written valid, then claims a smaller image: boxes off the image
    write_json(off, pred / "c3.json")
    (pred / "c3.json").write_text((pred / "c3.json").read_text().replace('"width": 10000', '"width": 400'))
    # c4 has no prediction at all
    return truth, pred


def test_broken_predictions_score_as_empty_and_are_listed(folders):
    truth, pred = folders
    r = evaluate_dirs(truth, pred)
    assert r["diagrams"] == 5
    assert sorted(b["name"] for b in r["broken"]) == ["c1", "c2", "c3", "c4"]
    assert r["nodes"]["tp"] == 4 and r["nodes"]["fn"] == 5 + 6 + 7 + 8
    assert r["diagram_exact"] == pytest.approx(1 / 5)


def test_report_has_metrics_and_a_confusion_png(folders, tmp_path):
    r = evaluate_dirs(*folders)
    write_report(r, tmp_path / "out" / "eval.md")
    text = (tmp_path / "out" / "eval.md").read_text()
    assert "| node recall |" in text and "eval.confusion.png" in text and "`c1`" in text
    assert (tmp_path / "out" / "eval.confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_command(folders, tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["eval", "--help"]).exit_code == 0
    result = runner.invoke(main, ["eval", *map(str, folders), "--json", "--report", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nodes"]["tp"] == 4
    assert (tmp_path / "r.md").is_file()
    plain = runner.invoke(main, ["eval", *map(str, folders)])
    assert plain.exit_code == 0 and "diagram exact 0.200" in plain.output
    assert "groups" not in plain.output  # no group to find and none claimed: no line for them


def test_eval_command_reports_groups_when_there_are_some(tmp_path):
    G = chart(5)
    G.graph["subgraphs"] = [{"id": "a", "title": "Setup", "nodes": ["n1", "n2"]}]
    write_json(G, tmp_path / "truth" / "c.json")
    G.graph["subgraphs"][0]["title"] = "Set up"
    write_json(G, tmp_path / "pred" / "c.json")
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "truth"), str(tmp_path / "pred")])
    assert result.exit_code == 0, result.output
    assert "groups P 1.000  R 1.000  F1 1.000  title acc 0.000" in result.output


def test_eval_of_an_empty_truth_folder_fails_cleanly(tmp_path):
    result = CliRunner().invoke(main, ["eval", str(tmp_path), str(tmp_path)])
    assert result.exit_code == 1 and "no readable truth" in result.output


def test_invalid_prediction_graphs_passed_in_memory_score_as_empty():
    truth = chart(4)
    pred = truth.copy()
    pred.nodes["n0"]["bbox"] = (float("nan"), 0, 10, 10)
    r = evaluate([truth, truth], [pred, truth], names=["bad", "good"])
    assert [b["name"] for b in r["broken"]] == ["bad"]
    assert r["nodes"]["tp"] == 4 and r["nodes"]["fn"] == 4
