"""The proof that training works, on CPU: a tiny InternVL trained by the tiny recipe memorises a
handful of synthetic charts, and ``flowparse.parse(image, model=checkpoint)`` then finds their
boxes; a run killed mid-way and resumed ends with exactly the weights of an uninterrupted run;
LoRA merges into a native checkpoint with the same outputs; the CLI and DeepSpeed configs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs torch (the internvl extra)")

from click.testing import CliRunner  # noqa: E402
from flowparse.training.config import TrainConfig, load_config  # noqa: E402
from flowparse.training.recipes import recipe_class, run_recipe  # noqa: E402

# LoRA needs peft (the train extra); without it those tests are skipped and say so.
needs_peft = pytest.mark.skipif(find_spec("peft") is None, reason="peft is not installed (pip install -e '.[train]')")
needs_bnb = pytest.mark.skipif(
    find_spec("bitsandbytes") is None, reason="bitsandbytes is not installed (pip install -e '.[train]')"
)

from flowparse.cli import main  # noqa: E402

TINY = Path(__file__).resolve().parents[2] / "training" / "configs" / "tiny_cpu.yaml"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(model, meta, out, *overrides):
    return load_config(TINY, [f"model={model}", f"meta_path={meta}", f"output_dir={out}", *overrides])


def _run(cfg, **kwargs):
    return run_recipe(cfg, log=lambda m: None, **kwargs)


def _weights(folder: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / name))


# ------------------------------------------------------------------------------------- learning
def test_tiny_recipe_learns_and_parse_finds_the_boxes(tiny_internvl, tiny_charts, tmp_path):
    import json

    from flowparse.converters.json_graph import write_json

    from flowparse import api
    from flowparse.geometry import box_iou

    meta, truths = tiny_charts
    out, truth_dir = tmp_path / "run", tmp_path / "truth"
    for name, truth in truths.items():  # the charts themselves stand in for a held-out split here
        write_json(truth, truth_dir / f"{Path(name).stem}.json")
    result = CliRunner().invoke(
        main,
        ["train", str(TINY), f"model={tiny_internvl}", f"meta_path={meta}", f"output_dir={out}",
         f"eval_images={meta.parent / 'images'}", f"eval_truth={truth_dir}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 160 and rows[-1]["loss"] < rows[0]["loss"] / 20
    # the record next to the last checkpoint and in the output folder
    assert (out / "checkpoint-160" / "loss_curve.png").stat().st_size > 1000
    assert (out / "checkpoint-160" / "metrics.jsonl").is_file() and (out / "loss_curve.png").is_file()
    assert not (out / "checkpoint-80").exists()  # save_total_limit: 1
    matched = total = 0
    for name, truth in truths.items():
        G = api.parse(meta.parent / "images" / name, model=str(out))
        for _, node in truth.nodes(data=True):
            total += 1
            matched += max((box_iou(node["bbox"], p["bbox"]) for _, p in G.nodes(data=True)), default=0.0) >= 0.5
    assert matched / total >= 0.9, f"{matched}/{total} nodes found at IoU >= 0.5"
    # the end-of-run evaluation through the harness saw the same
    evaluation = json.loads((out / "train_results.json").read_text())["eval"]
    assert evaluation["predictions"] == len(truths) and evaluation["node_f1"] >= 0.9
    assert (out / "eval" / "report.md").is_file()


# --------------------------------------------------------------------------------------- resume
class _Crash(RuntimeError):
    pass


def _crash_at(step):
    def hook(done):
        if done == step:
            raise _Crash(f"simulated crash after step {step}")

    return hook


@pytest.mark.parametrize(
    "recipe, overrides, weights",
    [
        ("full", [], "model.safetensors"),
        pytest.param(  # LoRA dropout draws from the RNG
            "lora", ["use_llm_lora=8", "freeze_llm=true"], "adapter_model.safetensors", marks=needs_peft
        ),
        pytest.param(  # 8-bit moments and their block maxima must come back from the checkpoint
            "full", ["optim=adamw_8bit"], "model.safetensors", marks=needs_bnb
        ),
    ],
)
def test_crashed_run_resumes_to_the_same_weights(tiny_internvl, tiny_charts, tmp_path, recipe, overrides, weights):
    meta, _ = tiny_charts
    common = [f"recipe={recipe}", "max_steps=6", "save_steps=2", *overrides]
    _run(_cfg(tiny_internvl, meta, tmp_path / "straight", *common))
    crashed = _cfg(tiny_internvl, meta, tmp_path / "crashed", *common)
    with pytest.raises(_Crash):
        _run(crashed, on_step_end=_crash_at(3))  # after step 3: checkpoint-2 is the last one
    assert (tmp_path / "crashed" / "checkpoint-2").is_dir() and not (tmp_path / "crashed" / "checkpoint-4").exists()
    summary = _run(crashed)
    assert summary["resumed_at"] == 2
    a, b = _weights(tmp_path / "straight", weights), _weights(tmp_path / "crashed", weights)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    losses = [
        r["loss"]
        for r in map(__import__("json").loads, (tmp_path / "crashed" / "metrics.jsonl").read_text().splitlines())
    ]
    assert len(losses) == 6  # the log was cut back to the checkpoint, not duplicated


@needs_bnb
def test_adamw_8bit_lowers_the_loss_like_adamw_and_checkpoints_8_bit_moments(tiny_internvl, tiny_charts, tmp_path):
    import json

    meta, _ = tiny_charts
    losses = {}
    for optim in ("adamw_torch", "adamw_8bit"):
        _run(_cfg(tiny_internvl, meta, tmp_path / optim, f"optim={optim}", "max_steps=12", "save_steps=12"))
        rows = (tmp_path / optim / "metrics.jsonl").read_text().splitlines()
        losses[optim] = [json.loads(line)["loss"] for line in rows]
    lean, full = losses["adamw_8bit"], losses["adamw_torch"]
    assert len(lean) == 12 and lean[-1] < 0.8 * lean[0], lean  # 6.4 -> 4.9 on this box
    assert lean[-1] == pytest.approx(full[-1], rel=0.03), losses  # tracks 32-bit AdamW closely
    out = tmp_path / "adamw_8bit"

    def tensors(value):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from tensors(v)

    saved = torch.load(out / "checkpoint-12" / "training_state.pt", weights_only=False)
    assert any(t.dtype == torch.uint8 for t in tensors(saved["optimizer"]["state"]))


@needs_bnb
def test_resume_refuses_another_optimizer(tiny_internvl, tiny_charts, tmp_path):
    from flowparse.training.config import ConfigError

    meta, _ = tiny_charts
    common = ["max_steps=4", "save_steps=2"]
    with pytest.raises(_Crash):
        _run(_cfg(tiny_internvl, meta, tmp_path, *common), on_step_end=_crash_at(2))
    with pytest.raises(ConfigError, match="the run used optim adamw_torch, this config gives adamw_8bit"):
        _run(_cfg(tiny_internvl, meta, tmp_path, *common, "optim=adamw_8bit"))


def test_killed_process_resumes_to_the_same_weights(tiny_internvl, tiny_charts, tmp_path):
    """A real SIGKILL at a random point (maybe mid-checkpoint), then `flowparse train` again."""
    meta, _ = tiny_charts
    args = [f"model={tiny_internvl}", f"meta_path={meta}", "max_steps=16", "save_steps=2"]
    _run(load_config(TINY, [*args, f"output_dir={tmp_path / 'straight'}"]))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "flowparse.training.cli", str(TINY), *args, f"output_dir={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not (out / "checkpoint-4").is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "checkpoint-16").exists()
    result = CliRunner().invoke(main, ["train", str(TINY), *args, f"output_dir={out}"])
    assert result.exit_code == 0, result.output
    a, b = _weights(tmp_path / "straight", "model.safetensors"), _weights(out, "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(out.glob(".checkpoint-*.tmp"))  # a half-written checkpoint was cleaned up


def test_two_process_ddp_matches_one_process(tiny_internvl, tiny_charts, tmp_path):
    """torchrun with 2 CPU processes (gloo), 2 samples each, gives the 1-process weights and losses."""
    import json

    from safetensors.torch import load_file

    meta, _ = tiny_charts
    args = [f"model={tiny_internvl}", f"meta_path={meta}", "max_steps=3", "save_steps=3"]
    _run(load_config(TINY, [*args, f"output_dir={tmp_path / 'one'}"]))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "flowparse.training.cli",
        str(TINY),
        *args,
        "per_device_train_batch_size=2",
        f"output_dir={tmp_path / 'two'}",
    ]
    done = subprocess.run(
        # the launcher's scratch folders go with the test's, not into the machine's /tmp
        command, env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}, capture_output=True,
        text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"world_size": 2' in (tmp_path / "two" / "train.log").read_text()
    a, b = (
        load_file(str(tmp_path / "one" / "model.safetensors")),
        load_file(str(tmp_path / "two" / "model.safetensors")),
    )
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    losses = [
        [json.loads(line)["loss"] for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
        for d in ("one", "two")
    ]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


# ----------------------------------------------------------------------------------------- LoRA
@needs_peft
@pytest.mark.parametrize(
    "flags",
    [
        ["freeze_llm=true", "freeze_backbone=true", "use_backbone_lora=4"],  # adapters + trainable projector
        [],  # the tiny recipe unfreezes everything: base weights under the LoRA layers train too
    ],
)
def test_lora_merge_gives_the_trained_models_outputs(tiny_internvl, tiny_charts, tmp_path, flags):
    from flowparse.training.merge import merge_lora

    from flowparse.backends.internvl.loading import load_internvl

    meta, _ = tiny_charts
    out = tmp_path / "lora"
    cfg = _cfg(tiny_internvl, meta, out, "recipe=lora", "use_llm_lora=8", "max_steps=4", "learning_rate=1e-2", *flags)
    recipe = recipe_class("lora")(cfg, log=lambda m: None)
    recipe.setup()
    recipe.train()
    ids = torch.randint(5, 300, (1, 30))
    recipe.model.eval()
    with torch.no_grad():
        want = recipe.model(input_ids=ids).logits  # the trained model as the run left it
    recipe.cleanup()
    result = CliRunner().invoke(main, ["model", "merge", str(out), str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        got = load_internvl(tmp_path / "merged", device="cpu").model(input_ids=ids).logits
        plain = load_internvl(tiny_internvl, device="cpu").model(input_ids=ids).logits
    assert not torch.allclose(want, plain, atol=1e-4)  # training changed the model
    assert torch.allclose(want, got, atol=1e-4)
    with pytest.raises(Exception, match="not an empty folder"):
        merge_lora(out, tmp_path / "merged")


def test_merge_rejects_a_folder_without_adapter(tmp_path):
    result = CliRunner().invoke(main, ["model", "merge", str(tmp_path), str(tmp_path / "out")])
    assert result.exit_code == 1 and "no adapter_config.json" in result.output


# ------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("args", [["train", "--help"], ["model", "merge", "--help"]])
def test_help(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and ("Example" in result.output or "e.g." in result.output)


def test_train_reports_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: full\nlearning_rat: 1\n")
    result = CliRunner().invoke(main, ["train", str(bad)])
    assert result.exit_code == 1 and "unknown key(s): learning_rat" in result.output
    result = CliRunner().invoke(main, ["train", str(bad), "--local_rank=3"])  # what the deepspeed launcher adds
    assert result.exit_code == 1 and "unknown key(s): learning_rat" in result.output
    result = CliRunner().invoke(main, ["train", str(TINY), "model="])
    assert result.exit_code == 2 and "model is empty" in result.output


def test_bad_data_stops_before_training_with_file_and_line(tiny_internvl, tmp_path):
    meta = tmp_path / "meta.json"
    (tmp_path / "a.jsonl").write_text('{"id": 1, "image": "../x.png", "conversations": []}\n')
    meta.write_text('{"d": {"root": ".", "annotation": "a.jsonl"}}')
    result = CliRunner().invoke(
        main, ["train", str(TINY), f"model={tiny_internvl}", f"meta_path={meta}", f"output_dir={tmp_path / 'o'}"]
    )
    assert result.exit_code == 1 and f"{tmp_path / 'a.jsonl'}:1" in result.output


# ------------------------------------------------------------------------------------ DeepSpeed
@pytest.mark.parametrize("stage", ["zero1", "zero2", "zero3"])
def test_deepspeed_config_fills_every_auto(stage):
    from flowparse.training.recipes.distributed import deepspeed_config

    cfg = TrainConfig(deepspeed=stage, per_device_train_batch_size=4, global_batch_size=128, max_grad_norm=1.0)
    data = deepspeed_config(cfg, world_size=8, accumulation=cfg.gradient_accumulation_steps(8))
    assert data["train_batch_size"] == 128 and data["gradient_accumulation_steps"] == 4
    assert data["train_micro_batch_size_per_gpu"] == 4 and data["gradient_clipping"] == 1.0
    assert data["bf16"]["enabled"] is True and data["fp16"]["enabled"] is False
    assert data["zero_optimization"]["stage"] == int(stage[-1]) and "optimizer" not in data
    assert "'auto'" not in repr(data)  # every "auto" value filled (the key auto_cast may stay)
