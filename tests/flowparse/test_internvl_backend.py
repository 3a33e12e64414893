"""The InternVL backend end to end on CPU with tiny checkpoints built offline.

A tiny model is taught (overfit, a few seconds) to answer the full graph of a chart drawn from
fixtures/graphs/order.json and shapes only for a second chart, then parsed through the public
``flowparse.parse`` / ``flowparse.load`` API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch", reason="the InternVL backend needs torch")
pytest.importorskip("transformers", reason="the InternVL backend needs transformers")

from flowparse.converters.json_graph import read_json  # noqa: E402

import flowparse  # noqa: E402
from flowparse.backends.internvl.backend import Answer, InternVLBackend  # noqa: E402
from flowparse.backends.internvl.loading import ModelLoadError, load_internvl  # noqa: E402
from flowparse.backends.internvl.preprocessing import preprocess_image  # noqa: E402
from flowparse.backends.internvl.tiny import build_tiny_internvl, teach_tiny_internvl  # noqa: E402
from flowparse.graph import add_shape, new_graph, validate_graph  # noqa: E402
from flowparse.grounding import detection_answer, graph_answer, prompt_for  # noqa: E402

ORDER = "fixtures/graphs/order.json"


def _draw(G, size=None) -> Image.Image:
    width, height = size or (G.graph["width"], G.graph["height"])
    image = Image.new("RGB", (int(width), int(height)), "white")
    draw = ImageDraw.Draw(image)
    for _, data in G.nodes(data=True):
        draw.rectangle(data["bbox"], outline="black", width=3)
    return image


def _shapes_chart():
    G = new_graph(500, 300)
    add_shape(G, "diamond", (40, 40, 200, 140))
    add_shape(G, "rectangle", (300, 160, 460, 260))
    return G


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def taught(tmp_path_factory, one_torch_thread):
    """A tiny Qwen2-flavoured checkpoint that answers the order chart and the shapes chart."""
    order, shapes = read_json(ORDER), _shapes_chart()
    path = build_tiny_internvl(tmp_path_factory.mktemp("tiny") / "taught", "qwen2")
    examples = [(_draw(order), graph_answer(order)), (_draw(shapes), detection_answer(shapes))]
    teach_tiny_internvl(path, examples, steps=200)
    return path, order, shapes


@pytest.fixture(scope="module")
def random_llama(tmp_path_factory):
    return build_tiny_internvl(tmp_path_factory.mktemp("tiny") / "llama", "llama")


def _summary(G):
    nodes = {
        n: (d["shape"], d["text"], tuple(round(v, 3) for v in d["bbox"]), round(d["score"], 4))
        for n, d in G.nodes(data=True)
    }
    edges = {(u, v): (d["label"], d["arrow"], round(d["score"], 4)) for u, v, d in G.edges(data=True)}
    return nodes, edges


def test_public_api_parses_the_fixture_chart(taught):
    path, order, _ = taught
    G = flowparse.parse(_draw(order), model=path, max_new_tokens=400)
    validate_graph(G)
    assert G.graph["backend"] == "internvl"
    expected = {n: d for n, d in order.nodes(data=True)}
    by_text = {d["text"]: d for _, d in G.nodes(data=True)}
    assert sorted(by_text) == sorted(d["text"] for d in expected.values())
    for data in expected.values():
        got = by_text[data["text"]]
        assert got["shape"] == data["shape"]
        assert all(
            abs(a - b) <= 0.5 * s / 1000 + 1e-9 for a, b, s in zip(got["bbox"], data["bbox"], (640, 720, 640, 720))
        )
        assert 0 < got["score"] <= 1
    text_of = {n: d["text"] for n, d in G.nodes(data=True)}
    got_edges = {(text_of[u], text_of[v], d["label"], d["arrow"]) for u, v, d in G.edges(data=True)}
    want_edges = {
        (order.nodes[u]["text"], order.nodes[v]["text"], d["label"], d["arrow"]) for u, v, d in order.edges(data=True)
    }
    assert got_edges == want_edges


def test_batched_equals_one_by_one(taught):
    path, order, shapes = taught
    backend = InternVLBackend(path, max_new_tokens=400, edges="never")
    images = [_draw(order), _draw(shapes), _draw(order, (900, 300)), _draw(shapes, (200, 700))]  # 1 and 2 tiles
    batched = backend.parse_many(images, batch_size=4, sources=["a", "b", "c", "d"])
    single = [backend.parse(img, source=s) for img, s in zip(images, "abcd")]
    in_two_batches = backend.parse_many(images, batch_size=3, sources=list("abcd"))  # prefetches the 2nd
    assert [_summary(G) for G in batched] == [_summary(G) for G in single] == [_summary(G) for G in in_two_batches]
    assert [G.graph["source"] for G in batched] == list("abcd")
    assert batched[0].number_of_edges() == order.number_of_edges()


def _scoreless(G):
    nodes, edges = _summary(G)
    return {n: v[:3] for n, v in nodes.items()}, {e: v[:2] for e, v in edges.items()}


def _scores(G):
    return [d["score"] for _, d in G.nodes(data=True)] + [d["score"] for *_, d in G.edges(data=True)]


def test_static_cache_gives_the_dynamic_cache_graphs(taught):
    path, order, shapes = taught
    images = [_draw(order), _draw(shapes, (200, 700)), _draw(order, (900, 300))]  # 1, 2 and 3 tiles: left padding
    dynamic = InternVLBackend(path, max_new_tokens=400, edges="never").parse_many(images, batch_size=2)
    static = InternVLBackend(path, max_new_tokens=400, edges="never", cache="static").parse_many(images, batch_size=2)
    assert [_scoreless(G) for G in static] == [_scoreless(G) for G in dynamic]
    assert sum(map(_scores, static), []) == pytest.approx(sum(map(_scores, dynamic), []), abs=1e-4)
    assert static[0].number_of_nodes() == order.number_of_nodes()


def test_compiled_static_cache_decoding_gives_the_same_answers(taught):
    """On CUDA, transformers compiles the decoding step when the cache is static; force it here.

    The ``eager`` compile backend traces the step with TorchDynamo (the part that meets our logits
    processor, left padding and the image prefill) without needing a C++ compiler.
    """
    from transformers import CompileConfig

    path, order, shapes = taught
    images = [_draw(order), _draw(shapes, (200, 700))]
    want = InternVLBackend(path, max_new_tokens=60, edges="never").answer_many(images, prompt_for("graph"))
    backend = InternVLBackend(path, max_new_tokens=60, edges="never", cache="static")
    config = CompileConfig(backend="eager", mode=None)
    config._compile_all_devices = True  # transformers' switch for compiling off CUDA (its tests use it)
    backend.loaded.model.generation_config.compile_config = config
    got = backend.answer_many(images, prompt_for("graph"))
    assert hasattr(backend.loaded.model, "_compiled_call")  # the compiled path did run
    assert [a.text for a in got] == [a.text for a in want]
    assert sum((a.logprobs for a in got), []) == pytest.approx(sum((a.logprobs for a in want), []), abs=1e-4)


def test_bfloat16_weights_give_the_float32_graph(taught):
    """The GPU runs in bf16; CPU bf16 runs the same casts (pixels, log-probabilities, boxes)."""
    path, order, shapes = taught
    images = [_draw(order), _draw(shapes)]
    want = InternVLBackend(path, max_new_tokens=400).parse_many(images, batch_size=2)
    backend = InternVLBackend(path, max_new_tokens=400, dtype="bfloat16")
    assert backend.loaded.model.dtype == torch.bfloat16
    got = backend.parse_many(images, batch_size=2)
    assert [_scoreless(G) for G in got] == [_scoreless(G) for G in want]  # confident answers: no near-ties
    assert sum(map(_scores, got), []) == pytest.approx(sum(map(_scores, want), []), abs=0.02)


def test_shapes_only_answer_gets_edges_from_the_arrow_tracer(taught, monkeypatch):
    path, _, shapes = taught
    calls = []

    def attach_arrows(image, G):
        calls.append(image.size)
        a, b = list(G)[:2]
        flowparse.add_arrow(G, a, b, score=0.5)
        return G

    monkeypatch.setitem(sys.modules, "flowparse.backends.classical", types.SimpleNamespace(attach_arrows=attach_arrows))
    G = InternVLBackend(path, max_new_tokens=100).parse(_draw(shapes))
    validate_graph(G)
    assert sorted(d["shape"] for _, d in G.nodes(data=True)) == ["diamond", "rectangle"]
    assert calls == [(500, 300)] and G.number_of_edges() == 1


def test_shapes_only_without_the_tracer_warns_and_keeps_shapes(taught, monkeypatch):
    path, _, shapes = taught
    monkeypatch.setitem(sys.modules, "flowparse.backends.classical", None)  # import fails
    backend = InternVLBackend(path, max_new_tokens=100)
    with pytest.warns(RuntimeWarning, match="classical arrow tracer is not available"):
        G = backend.parse(_draw(shapes))
    assert G.number_of_nodes() == 2 and G.number_of_edges() == 0


def test_scores_are_the_greedy_token_log_probabilities(random_llama):
    backend = InternVLBackend(random_llama, max_new_tokens=12)
    image = Image.new("RGB", (300, 200), "white")
    answer = backend.answer_many([image], prompt_for("detection"))[0]
    assert answer.truncated and len(answer.logprobs) == 12
    # recompute with one plain forward pass over prompt + answer tokens
    loaded = backend.loaded
    prepared = backend._prepare([image], prompt_for("detection"))
    prompt_ids, pixels = prepared.input_ids, preprocess_image(image, loaded.tiling)
    with torch.no_grad():
        first = loaded.model.generate(input_ids=prompt_ids, pixel_values=pixels, max_new_tokens=12, do_sample=False)
        logits = loaded.model(input_ids=first, pixel_values=pixels).logits[0, prompt_ids.shape[1] - 1 : -1]
    chosen = first[0, prompt_ids.shape[1] :]
    expected = torch.log_softmax(logits.float(), -1).gather(-1, chosen[:, None])[:, 0]
    torch.testing.assert_close(torch.tensor(answer.logprobs), expected, rtol=0, atol=1e-4)
    assert loaded.tokenizer("x")["input_ids"][0] == loaded.tokenizer.bos_token_id  # InternLM2-style <s>


def test_span_score_is_the_geometric_mean_over_overlapping_tokens():
    answer = Answer("abcdef", [2, 4, 6], [-0.1, -0.2, -0.3])
    assert answer.span_score(0, 2) == pytest.approx(0.9048374, abs=1e-6)
    assert answer.span_score(1, 5) == pytest.approx(2.718281828 ** (-0.2), abs=1e-6)  # tokens 0..2
    assert answer.span_score(2, 4) == pytest.approx(2.718281828 ** (-0.2), abs=1e-6)
    assert Answer("", [], []).span_score(0, 3) == 1.0


def test_loader_errors_name_the_model(tmp_path):
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_internvl(tmp_path / "missing")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="not a folder"):
        load_internvl(tmp_path / "file.bin")
    original = tmp_path / "orig"
    original.mkdir()
    (original / "config.json").write_text(json.dumps({"model_type": "internvl_chat", "llm_config": {}}))
    with pytest.raises(ModelLoadError, match="flowparse model import"):
        load_internvl(original)
    with pytest.raises(flowparse.InputError, match="needs a model"):
        InternVLBackend(None)


def test_options_are_checked(random_llama):
    with pytest.raises(ValueError, match="task"):
        InternVLBackend(random_llama, task="caption")
    with pytest.raises(ValueError, match="edges"):
        InternVLBackend(random_llama, edges="sometimes")
    with pytest.raises(ValueError, match="cache"):
        InternVLBackend(random_llama, cache="paged")
    backend = InternVLBackend(random_llama, max_tiles=1, dtype="float32", device="cpu")
    assert backend.loaded.tiling.max_tiles == 1 and backend.loaded.template.name == "internlm2-chat"


def test_importing_the_backend_package_stays_light():
    code = (
        "import sys, flowparse.backends.internvl, flowparse.grounding, flowparse.model_cli; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("llm", ["qwen2", "llama"])
def test_token_ends_match_prefix_decoding(tmp_path, llm):
    from transformers import AutoTokenizer

    from flowparse.backends.internvl.backend import token_ends
    from flowparse.backends.internvl.tiny import build_tiny_tokenizer

    build_tiny_tokenizer(llm).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    answer = graph_answer(read_json(ORDER)) + "\nn9 other <ref>流程图 ✓ émoji 🙂</ref><box>[[1, 2, 3, 4]]</box>"
    tokens = tokenizer(answer, add_special_tokens=False)["input_ids"]
    text, ends = token_ends(tokenizer, tokens)
    assert text == tokenizer.decode(tokens, skip_special_tokens=False) == answer
    prefixes = [tokenizer.decode(tokens[: k + 1], skip_special_tokens=False) for k in range(len(tokens))]
    # where a prefix ends inside a character (decoded as U+FFFD), the character is not counted yet
    assert ends == [len(p) - p.endswith("\ufffd") for p in prefixes]
    assert any(p.endswith("\ufffd") for p in prefixes)  # the case is exercised


def test_shapes_only_answer_with_the_real_arrow_tracer(random_llama):
    pytest.importorskip("cv2", reason="the classical arrow tracer needs OpenCV (flowparse[classical])")
    image = Image.new("RGB", (600, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((50, 50, 250, 130), outline="black", width=3)
    draw.rectangle((350, 250, 550, 330), outline="black", width=3)
    draw.line((250, 90, 450, 90), fill="black", width=3)  # an elbow connector with its head at the second box
    draw.line((450, 90, 450, 250), fill="black", width=3)
    draw.polygon([(440, 235), (460, 235), (450, 250)], fill="black")
    shapes = new_graph(600, 400)
    add_shape(shapes, "rectangle", (50, 50, 250, 130))
    add_shape(shapes, "rectangle", (350, 250, 550, 330))
    backend = InternVLBackend(random_llama, task="detection")
    G = backend._to_graph(Answer(detection_answer(shapes)), image, "elbow.png")
    validate_graph(G)
    assert list(G.edges) == [("n0", "n1")] and G.edges["n0", "n1"]["arrow"] == "normal"
