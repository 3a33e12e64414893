"""Shared fixtures for the training tests: a small fast tokenizer built offline."""

from __future__ import annotations

import pytest

SPECIAL = [
    "<unk>",
    "<s>",
    "</s>",
    "<pad>",
    "<|im_start|>",
    "<|im_end|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
    "<quad>",
    "</quad>",
]


@pytest.fixture(scope="session")
def fast_tokenizer():
    """A byte-level BPE tokenizer trained in memory on flowchart-answer text, with InternVL's
    special tokens; it adds ``<s>`` in front like InternLM2's tokenizer does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [
        "Please detect and label all objects in the following image and mark their positions.",
        "system user assistant rectangle diamond stadium circle [[100, 200, 300, 400]]",
        "0123456789 , [ ] yes no 是 否 开始 结束",
    ] * 20
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL[4:],
    )


@pytest.fixture(scope="session")
def tiny_internvl(tmp_path_factory):
    """A tiny native InternVL checkpoint (Qwen2 LLM, Hermes-2 template) from the backend's builder."""
    pytest.importorskip("torch", reason="the tiny model needs torch (the internvl extra)")
    from flowparse.backends.internvl.tiny import build_tiny_internvl

    return build_tiny_internvl(tmp_path_factory.mktemp("tiny-qwen2"), llm="qwen2")


@pytest.fixture(scope="session")
def tiny_internvl_llama(tmp_path_factory):
    """The same with a Llama LLM (InternLM2 as imported: InternVL2-2B/8B's family)."""
    pytest.importorskip("torch", reason="the tiny model needs torch (the internvl extra)")
    from flowparse.backends.internvl.tiny import build_tiny_internvl

    return build_tiny_internvl(tmp_path_factory.mktemp("tiny-llama"), llm="llama")


def draw_chart(path, seed: int, size: int = 448):
    """A small flowchart image and its truth graph: 3 to 4 shapes in a column, arrows between them.

    Drawn with PIL (no other engineer's generator needed); shapes are filled with distinct grey
    levels so a tiny random vision encoder can tell the charts apart quickly.
    """
    import random

    from PIL import Image, ImageDraw

    from flowparse.graph import add_arrow, add_shape, new_graph

    rng = random.Random(seed)
    G = new_graph(size, size, source=str(path))
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    count = rng.randint(3, 4)
    words = ["Start", "yes", "no", "开始", "结束", "判断"]
    nodes = []
    top = rng.randint(10, 40)
    for k in range(count):
        w, h = rng.randint(120, 260), rng.randint(50, 70)
        x1 = rng.randint(10, size - w - 10)
        box = (x1, top, x1 + w, top + h)
        shape = rng.choice(["rectangle", "diamond", "stadium"])
        fill = (60 * k + 40 + 10 * seed) % 200 + 30
        if shape == "diamond":
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            draw.polygon([(cx, box[1]), (box[2], cy), (cx, box[3]), (box[0], cy)], fill=(fill,) * 3, outline="black")
        else:
            draw.rounded_rectangle(
                box, radius=25 if shape == "stadium" else 2, fill=(fill,) * 3, outline="black", width=2
            )
        nodes.append(add_shape(G, shape, box, rng.choice(words)))
        top += h + rng.randint(30, 50)
    for a, b in zip(nodes, nodes[1:]):
        add_arrow(G, a, b)
        ya, yb = G.nodes[a]["bbox"][3], G.nodes[b]["bbox"][1]
        xa = (G.nodes[a]["bbox"][0] + G.nodes[a]["bbox"][2]) / 2
        draw.line([(xa, ya), (xa, yb)], fill="black", width=2)
    image.save(path)
    return G


def write_internvl_dataset(folder, seeds, *, task: str = "graph"):
    """Charts in the InternVL fine-tune format (JSONL + meta JSON), answers from flowparse.grounding."""
    import json
    from pathlib import Path

    from flowparse.grounding import graph_answer, prompt_for

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    graphs, lines = {}, []
    for seed in seeds:
        name = f"chart{seed}.png"
        G = draw_chart(folder / "images" / name, seed)
        graphs[name] = G
        lines.append(
            {
                "id": f"chart{seed}",
                "image": name,
                "width": 448,
                "height": 448,
                "conversations": [
                    {"from": "human", "value": "<image>\n" + prompt_for(task)},
                    {"from": "gpt", "value": graph_answer(G)},
                ],
            }
        )
    (folder / "train.jsonl").write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    meta = {
        "tiny_charts": {
            "root": "images",
            "annotation": "train.jsonl",
            "data_augment": False,
            "repeat_time": 1,
            "length": len(lines),
        }
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder / "meta.json", graphs


@pytest.fixture(scope="session")
def tiny_charts(tmp_path_factory):
    """Four synthetic charts as an InternVL dataset: ``(meta_path, {image name: truth graph})``."""
    return write_internvl_dataset(tmp_path_factory.mktemp("tiny-charts"), seeds=range(4))
