"""Full fine-tune recipe: every unfrozen weight of InternVL trains (official ``*_full.sh``).

``setup`` reads and checks the data, loads the base model and freezes its parts, ``train`` runs
the steps (resuming from the last checkpoint), ``save_checkpoint`` writes a checkpoint that
``parse(model=...)`` loads, ``cleanup`` leaves the process group. The LoRA recipe is a copy of
this one with the adapter parts changed, on purpose: each reads top to bottom on its own.

>>> recipe = FullFinetuneRecipe(load_config("training/configs/tiny_cpu.yaml"))  # doctest: +SKIP
>>> recipe.setup(); recipe.train(); recipe.cleanup()                             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from flowparse.training.config import ConfigError, TrainConfig, config_to_dict
from flowparse.training.recipes import checkpointing as ckpt
from flowparse.training.recipes.report import MetricsLog, plot_loss_curve

__all__ = ["FullFinetuneRecipe"]


class FullFinetuneRecipe:
    """Fine-tune every unfrozen weight of a native InternVL checkpoint on InternVL-format data."""

    name = "full"

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        on_step_end: Callable[[int], None] | None = None,
        log: Callable[[str], None] | None = None,
    ):
        if cfg.recipe != self.name:
            raise ConfigError(f"recipe {cfg.recipe!r} given to the {self.name} recipe")
        self.cfg = cfg
        self.on_step_end = on_step_end  # called after each optimizer step (tests inject crashes here)
        self._log = log
        self.out = Path(cfg.output_dir)
        self.start_step = 0
        self.engine = None  # DeepSpeed engine, when DeepSpeed runs

    # ------------------------------------------------------------------------------ setup
    def log(self, message: str) -> None:
        """A line on stderr and in ``train.log`` (main rank only)."""
        if not self.env.is_main:
            return
        if self._log is not None:
            self._log(message)
        else:
            print(message, file=sys.stderr, flush=True)
        with (self.out / "train.log").open("a", encoding="utf-8") as f:
            f.write(message + "\n")

    def setup(self) -> None:
        """Data, model, optimizer, schedule, distribution; then the last checkpoint if resuming."""
        import numpy as np
        import torch
        from flowparse.training.recipes.distributed import import_deepspeed, setup_distributed

        cfg = self.cfg
        self.deepspeed = cfg.deepspeed is not None
        self.env = setup_distributed(cfg.device, group_when_alone=self.deepspeed)
        if self.deepspeed:  # a missing or mismatched DeepSpeed fails before the model loads
            import_deepspeed(self.env.device)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_output_dir()
        self._setup_model()
        self._setup_data()
        self._setup_optimization()
        self.metrics = MetricsLog(self.out / "metrics.jsonl")
        last = ckpt.last_checkpoint(self.out) if cfg.resume else None
        if last is not None:
            self._resume(last)
        elif self.env.is_main:
            self.metrics.truncate_after(0)

    def _check_output_dir(self) -> None:
        if not self.cfg.resume and ckpt.last_checkpoint(self.out) is not None:
            raise ConfigError(f"{self.out} holds checkpoints: set resume: true, or choose another output_dir")

    def _setup_model(self) -> None:
        from flowparse.training.model_setup import (
            TrainingModule,
            enable_gradient_checkpointing,
            freeze_parts,
            keep_trainable_in_float32,
            load_for_training,
            trainable_summary,
        )

        from flowparse.backends.internvl.preprocessing import TilingConfig

        cfg = self.cfg
        loaded = load_for_training(cfg, self.env.device)
        self.tokenizer, self.template = loaded.tokenizer, loaded.template
        self.tiling = TilingConfig.from_dict(
            {
                **loaded.tiling.to_dict(),
                "min_tiles": cfg.min_dynamic_patch,
                "max_tiles": cfg.max_dynamic_patch,
                "use_thumbnail": cfg.use_thumbnail,
            }
        )
        self.model = loaded.model
        freeze_parts(self.model, cfg)
        if not self.deepspeed:  # DeepSpeed keeps its own float32 master weights
            keep_trainable_in_float32(self.model)
        if cfg.grad_checkpoint:
            enable_gradient_checkpointing(self.model)
        self.module = TrainingModule(self.model, cfg.loss_chunk_size)
        self.log(
            f"model {cfg.model}: {trainable_summary(self.model)}; template {self.template.name}; "
            f"tiles {self.tiling.min_tiles}..{self.tiling.max_tiles} (+thumbnail: {self.tiling.use_thumbnail})"
        )

    def _setup_data(self) -> None:
        from flowparse.training.data import DataError, load_records, read_meta
        from flowparse.training.recipes.batching import plan_steps
        from flowparse.training.samples import SampleBuilder, plan_samples

        cfg, env = self.cfg, self.env
        data = load_records(read_meta(cfg.meta_path), seed=cfg.seed, on_bad_line=cfg.on_bad_line)
        for problem in data.problems:
            self.log(f"skipped {problem}")
        self.builder = SampleBuilder(self.tokenizer, self.template, self.tiling, cfg.max_seq_length, cfg.seed)
        self.records = data.records
        self.plan = plan_samples(data.records, self.builder)
        if not self.plan.kept:
            raise DataError(f"{cfg.meta_path}: no sample left to train on")
        self.accumulation = cfg.gradient_accumulation_steps(env.world_size)
        self.steps = plan_steps(
            self.plan.lengths,
            per_device=cfg.per_device_train_batch_size,
            world_size=env.world_size,
            accumulation=self.accumulation,
            epochs=cfg.num_train_epochs,
            seed=cfg.seed,
            rank=env.rank,
            group_by_length=cfg.group_by_length,
            max_steps=cfg.max_steps,
            drop_short_window=self.deepspeed,
        )
        self.data_summary = {
            "datasets": data.counts,
            "bad_lines": len(data.problems),
            "samples": len(self.plan.kept),
            "dropped_image_cut": self.plan.dropped_image_cut,
            "trainable_tokens": self.plan.trainable_tokens,
            "steps": len(self.steps),
            "accumulation": self.accumulation,
            "world_size": env.world_size,
        }
        self.log(f"data: {json.dumps(self.data_summary)}")
        for where in self.plan.dropped_where:
            self.log(f"dropped {where}: its image tokens would be cut by max_seq_length={cfg.max_seq_length}")

    def _setup_optimization(self) -> None:
        import torch
        from flowparse.training.recipes.distributed import deepspeed_config, import_deepspeed
        from flowparse.training.recipes.optim import build_optimizer, build_scheduler

        cfg, env = self.cfg, self.env
        self.optimizer = build_optimizer(self.model, cfg, env.device)
        self.scheduler = build_scheduler(self.optimizer, cfg, len(self.steps))
        self.runner = self.module
        if self.deepspeed:
            deepspeed = import_deepspeed(env.device)
            config = deepspeed_config(cfg, world_size=env.world_size, accumulation=self.accumulation)
            self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
                model=self.module, optimizer=self.optimizer, lr_scheduler=self.scheduler, config=config
            )
            self.runner = self.engine
        elif env.world_size > 1:
            # Unused parameters exist when a trainable vision tower meets a text-only batch.
            trains_vision = not cfg.freeze_backbone or cfg.unfreeze_vit_layers > 0
            self.runner = torch.nn.parallel.DistributedDataParallel(
                self.module,
                device_ids=[env.local_rank] if env.device.type == "cuda" else None,
                find_unused_parameters=trains_vision,
            )

    # ----------------------------------------------------------------------------- resume
    def _resume(self, path: Path) -> None:
        """Weights, optimizer, schedule, RNG and step of the checkpoint at ``path``."""
        import torch

        state = ckpt.read_trainer_state(path)
        if state.get("total_steps") != len(self.steps):
            raise ConfigError(
                f"{path}: the run had {state.get('total_steps')} steps, this config gives {len(self.steps)}; "
                "resume with the same data and batch settings, or use another output_dir"
            )
        saved_optim = state.get("config", {}).get("optim", "adamw_torch")  # older runs had only AdamW
        if saved_optim != self.cfg.optim:
            raise ConfigError(
                f"{path}: the run used optim {saved_optim}, this config gives {self.cfg.optim}; its optimizer "
                "state cannot be converted: resume with the same optim, or use another output_dir"
            )
        if self.deepspeed:
            self.engine.load_checkpoint(str(path / ckpt.DEEPSPEED_STATE), tag="state")
        else:
            saved = torch.load(path / ckpt.TRAINING_STATE, map_location="cpu", weights_only=False)
            params = dict(self.model.named_parameters())
            with torch.no_grad():
                for name, value in saved["trainable"].items():
                    params[name].copy_(value)
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
        rng = path / f"rng_state_{self.env.rank}.pt"
        ckpt.restore_rng_state(torch.load(rng, weights_only=False))
        self.start_step = int(state["step"])
        if self.env.is_main:
            self.metrics.truncate_after(self.start_step)
        self.log(f"resumed from {path} at step {self.start_step}/{len(self.steps)}")

    # ------------------------------------------------------------------------------ train
    def _loader(self, steps):
        import torch
        from flowparse.training.samples import collate_samples, sample_dataset
        from torch.utils.data import DataLoader

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        batches = [list(micro) for step in steps for micro in step.micro_batches]
        workers = self.cfg.dataloader_num_workers
        # Its own generator: a DataLoader draws a worker seed from the global RNG when iteration
        # starts, which would shift dropout's random stream in a resumed run.
        generator = torch.Generator().manual_seed(self.cfg.seed)
        return DataLoader(
            sample_dataset(self.records, self.plan, self.builder),
            batch_sampler=batches,
            collate_fn=partial(collate_samples, pad_token_id=pad),
            num_workers=workers,
            pin_memory=self.env.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=2 if workers else None,
            generator=generator,
        )

    def _window_tokens(self, step) -> int:
        """Labelled tokens of the whole step over all ranks: the loss is their mean."""
        return sum(self.plan.label_counts[pos] for rank in step.all_ranks for micro in rank for _, pos in micro)

    def _autocast(self):
        from flowparse.training.model_setup import compute_autocast

        if self.deepspeed:  # DeepSpeed runs the model in its own precision
            return contextlib.nullcontext()
        return compute_autocast(self.env.device, self.cfg.dtype)

    def train(self) -> dict:
        """Run the remaining steps; save every ``save_steps`` and at the end. Returns the summary."""
        import torch
        from tqdm import tqdm

        cfg, env = self.cfg, self.env
        remaining = self.steps[self.start_step :]
        batches = iter(self._loader(remaining))
        bar = tqdm(
            total=len(self.steps),
            initial=self.start_step,
            disable=not (env.is_main and cfg.progress_bar),
            file=sys.stderr,
            dynamic_ncols=True,
            desc=f"train {self.name}",
        )
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.module.train()
        started = time.perf_counter()
        for step in remaining:
            tick = time.perf_counter()
            window = self._window_tokens(step)
            loss_sum = torch.zeros((), device=env.device)
            seen_tokens = 0
            for k, _ in enumerate(step.micro_batches):
                batch = {
                    key: (v.to(env.device, non_blocking=True) if v is not None else None)
                    for key, v in next(batches).items()
                }
                seen_tokens += int(batch["attention_mask"].sum())
                last = k == len(step.micro_batches) - 1
                # DDP all-reduces gradients only on the last micro-batch. DeepSpeed tracks the
                # accumulation boundary itself and refuses to step inside its own no_sync.
                skip_sync = not last and not self.deepspeed and hasattr(self.runner, "no_sync")
                sync = self.runner.no_sync() if skip_sync else contextlib.nullcontext()
                with sync:
                    with self._autocast():
                        total, _ = self.runner(**batch)
                    # Mean over the step's labelled tokens on all ranks; DDP and DeepSpeed average
                    # gradients over ranks, hence x world size; DeepSpeed also divides by the accumulation.
                    scaled = total * env.world_size / max(window, 1)
                    if self.deepspeed:
                        self.engine.backward(scaled * self.accumulation)
                        self.engine.step()
                    else:
                        scaled.backward()
                loss_sum += total.detach().float()
            if self.deepspeed:
                grad_norm = float(self.engine.get_global_grad_norm() or 0.0)
            else:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
            if env.world_size > 1:
                torch.distributed.all_reduce(loss_sum)
            done = step.index + 1
            row = {
                "step": done,
                "epoch": step.epoch,
                "loss": float(loss_sum) / max(window, 1),
                "lr": self.scheduler.get_last_lr()[0],
                "grad_norm": grad_norm,
                "tokens": window,
                "seconds": round(time.perf_counter() - tick, 4),
                "tokens_per_second": round(seen_tokens * env.world_size / max(time.perf_counter() - tick, 1e-9), 1),
            }
            if env.device.type == "cuda":
                row["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(env.device) / 2**30, 3)
            if env.is_main and (done % cfg.logging_steps == 0 or done == len(self.steps)):
                self.metrics.append(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")
            bar.update(1)
            if done % cfg.save_steps == 0 or done == len(self.steps):
                self.save_checkpoint(done)
            if self.on_step_end is not None:
                self.on_step_end(done)
        bar.close()
        if not remaining and self.steps:
            self.log("nothing left to train: the last checkpoint is the end of the run")
        return self._finish(time.perf_counter() - started)

    # ------------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, step: int) -> Path:
        """Write ``checkpoint-<step>`` (all ranks take part; rank 0 writes the model and commits)."""
        import torch

        env = self.env
        # Saving must not move the random streams (a library may draw from them while saving):
        # the resumed run starts from this state, so the uninterrupted one must continue from it too.
        rng = ckpt.rng_state()
        tmp = self.out / f".checkpoint-{step}.tmp"
        if env.is_main:
            tmp = ckpt.open_checkpoint(self.out, step)
        self._barrier()
        torch.save(rng, tmp / f"rng_state_{env.rank}.pt")
        if self.deepspeed:
            self.engine.save_checkpoint(str(tmp / ckpt.DEEPSPEED_STATE), tag="state")
        state_dict = self._export_state_dict()
        final = ckpt.checkpoint_dir(self.out, step)
        if env.is_main:
            self._export_model(tmp, state_dict)
            if not self.deepspeed:
                torch.save(
                    {
                        "trainable": {n: p.detach().cpu() for n, p in self.model.named_parameters() if p.requires_grad},
                        "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(),
                    },
                    tmp / ckpt.TRAINING_STATE,
                )
            self._write_reports(tmp)
            ckpt.write_trainer_state(
                tmp,
                {
                    "step": step,
                    "total_steps": len(self.steps),
                    "recipe": self.name,
                    "config": config_to_dict(self.cfg),
                    "data": self.data_summary,
                },
            )
            ckpt.commit_checkpoint(tmp, self.out, step)
            ckpt.rotate_checkpoints(self.out, self.cfg.save_total_limit)
            self.log(f"saved {final}")
        self._barrier()
        ckpt.restore_rng_state(rng)
        return final

    def _export_state_dict(self):
        """The model's weights for export (gathered from all ranks under ZeRO-3)."""
        if self.deepspeed and self.engine.zero_optimization_stage() == 3:
            gathered = self.engine._zero3_consolidated_16bit_state_dict()  # rank 0 only, others None
            return None if gathered is None else {k.removeprefix("model."): v for k, v in gathered.items()}
        return None

    def _export_model(self, folder: Path, state_dict=None) -> None:
        """The native checkpoint ``parse(model=folder)`` loads: weights in the compute dtype,
        tokenizer with chat template, generation config and flowparse settings."""
        import torch

        dtype = getattr(torch, self.cfg.dtype)
        source = state_dict if state_dict is not None else self.model.state_dict()
        weights = {
            k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()) for k, v in source.items()
        }
        self.model.config.use_cache = True  # inference wants the KV cache back
        try:
            self.model.save_pretrained(folder, state_dict=weights, safe_serialization=True)
        finally:
            self.model.config.use_cache = False
        ckpt.save_tokenizer_files(self.tokenizer, folder)
        ckpt.write_flowparse_settings(self.cfg.model, folder, self.template.name, self.tiling, self.cfg.task)

    def _write_reports(self, folder: Path) -> None:
        self.metrics.copy_to(folder)
        plot_loss_curve(
            self.metrics.rows(), folder / "loss_curve.png", title=f"{self.name} fine-tune: {self.cfg.model}"
        )

    def _barrier(self) -> None:
        import torch

        if self.env.world_size > 1:
            torch.distributed.barrier()

    # ----------------------------------------------------------------------------- finish
    def _finish(self, seconds: float) -> dict:
        """Copy the last checkpoint's model to ``output_dir``, write the summary, run the evaluation."""
        summary = {
            "recipe": self.name,
            "steps": len(self.steps),
            "resumed_at": self.start_step,
            "seconds": round(seconds, 2),
            **self.data_summary,
        }
        rows = self.metrics.rows() if self.env.is_main else []
        if rows:
            summary["final_loss"] = rows[-1]["loss"]
        if self.env.is_main:
            last = ckpt.last_checkpoint(self.out)
            if last is not None:
                _copy_model_files(last, self.out)
            plot_loss_curve(rows, self.out / "loss_curve.png", title=f"{self.name} fine-tune: {self.cfg.model}")
            summary.update(self._evaluate())
            from flowparse.files import write_text_atomic

            write_text_atomic(self.out / "train_results.json", json.dumps(summary, indent=2) + "\n")
            self.log(f"done: {json.dumps(summary)}")
        return summary

    def _evaluate(self) -> dict:
        if self.cfg.eval_images is None:
            return {}
        from flowparse.training.recipes.heldout import evaluate_checkpoint

        return {"eval": evaluate_checkpoint(self.out, self.cfg.eval_images, self.cfg.eval_truth, self.out / "eval")}

    def cleanup(self) -> None:
        """Free the model and leave the process group."""
        from flowparse.training.recipes.distributed import teardown_distributed

        self.runner = self.module = self.model = self.engine = None
        teardown_distributed()


def _copy_model_files(checkpoint: Path, out: Path) -> None:
    """The loadable part of a checkpoint (not its optimizer and RNG state) into ``out``."""
    skip = {ckpt.TRAINING_STATE, ckpt.TRAINER_STATE, "metrics.jsonl", "loss_curve.png"}
    for item in checkpoint.iterdir():
        if item.is_file() and item.name not in skip and not item.name.startswith("rng_state_"):
            shutil.copyfile(item, out / item.name)
