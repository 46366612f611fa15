"""The training loop: discriminator and generator phases, logging, samples, checkpoints.

Read top to bottom: `__init__` builds the run, `fit` runs steps until `trainer.steps` generator
updates are done, `train_step` is one generator update preceded by `d_steps` critic updates.
Nothing in the step synchronises with the device: losses accumulate on it and are read once
per `log_every` steps.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from omegaconf import OmegaConf

from gan_cli import checkpoint as ckpt_io
from gan_cli import distributed, run_status
from gan_cli.augment import AugmentedD, apply_all
from gan_cli.build import CONV_ARCHS, build_networks
from gan_cli.console import TrainingProgress, summary_table
from gan_cli.data import batch_source, build_dataset, data_spec
from gan_cli.divergence import DivergenceWatch, first_nonfinite, named_tensors
from gan_cli.errors import DivergenceError, GanError
from gan_cli.generation import generate, per_class_labels
from gan_cli.loggers import build_logger
from gan_cli.lr_decay import check_decay, lr_factor, set_learning_rate
from gan_cli.metrics.scores import evaluate_generator
from gan_cli.optim import build_optimizer
from gan_cli.runtime import autocast, autocast_dtype, resolve_device, seed_everything, use_channels_last
from gan_cli.samples import save_image_grid, save_scatter
from gan_cli.tricks import StepContext

log = logging.getLogger("gan")

# Seeds derived from the run seed for streams that must not disturb the training RNG.
DATA_SEED_OFFSET = 1_000_003
FIXED_NOISE_SEED_OFFSET = 2_000_003
NOISE_SEED_OFFSET = 4_000_037


class Trainer:
    def __init__(self, cfg, run_dir: str | Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        t = cfg.trainer
        # read in every step: plain ints, not OmegaConf lookups
        self._batch_size, self._d_steps = int(t.batch_size), int(t.d_steps)
        self._d_params: list[torch.nn.Parameter] | None = None
        self.device = distributed.device(resolve_device(cfg.device))
        seed_everything(cfg.seed)  # the same on every rank: identical initial networks
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = t.cudnn_benchmark
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        # extra logs beside metrics.jsonl, written by rank 0 alone
        self.logger = build_logger(cfg.logger if distributed.is_main() else "jsonl", self.run_dir, cfg)
        self.data = build_dataset(cfg.dataset)
        self.spec = data_spec(self.data)
        self.nets = build_networks(cfg, self.spec, self.device)
        self.G, self.D, self.loss, self.tricks = self.nets.G, self.nets.D, self.nets.loss, self.nets.tricks
        self.schedule = self.nets.schedule
        self.channels_last = use_channels_last(t.channels_last, self.device, cfg.arch.name in CONV_ARCHS)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.opt_g = build_optimizer(cfg.optim.g, self.G.parameters(), self.device)
        self.opt_d = build_optimizer(cfg.optim.d, self.D.parameters(), self.device)
        self._lr_decay = cfg.optim.get("decay", "none")
        check_decay(self._lr_decay)
        self.amp_dtype = autocast_dtype(t.amp, self.device)
        fp16 = self.amp_dtype == torch.float16
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        distributed.local_batch_size(t.batch_size)  # refuses a global batch that does not split evenly
        self.batches = batch_source(self.data, t.batch_size, cfg.seed + DATA_SEED_OFFSET, self.device,
                                    cfg.dataset.num_workers, distributed.shard())
        # Latent noise: one generator shared by all ranks, drawn for the global batch (`latent`).
        self.noise = torch.Generator(self.device).manual_seed(cfg.seed + NOISE_SEED_OFFSET)
        if distributed.world_size() > 1:
            seed_everything(distributed.rank_seed(cfg.seed))  # per-rank randomness inside losses and tricks
        # Each player trains through its wrapper (DDP when distributed); in the G phase D is called
        # plain (`frozen_D`): it gets no gradient there, so its DDP hooks must not be armed.
        # a growing arch (progan) leaves the blocks of other resolutions without gradients
        unused = self.schedule is not None
        self.train_G = distributed.wrap(self.G, self.device, t.sync_batchnorm, find_unused_parameters=unused)
        self.train_D = distributed.wrap(self.D, self.device, t.sync_batchnorm, find_unused_parameters=unused)
        self.frozen_D = self.D
        if t.compile:
            self.train_G = torch.compile(self.train_G)
            # torch.compile cannot differentiate twice: D stays eager under gradient penalties.
            if not (self.loss.gradient_penalty or any(getattr(k, "gradient_penalty", False) for k in self.tricks)):
                self.train_D, self.frozen_D = torch.compile(self.train_D), torch.compile(self.frozen_D)
        # Augmenting tricks (diffaugment, ada): D is wrapped so that every image it sees, real or
        # fake, in either phase, is augmented; or only the real batch is (the negative control).
        d_augments = [trick.augment for trick in self.tricks if trick.augments == "d_inputs"]
        self.real_augments = [trick.augment for trick in self.tricks if trick.augments == "reals"]
        if d_augments:
            self.train_D, self.frozen_D = AugmentedD(self.train_D, d_augments), AugmentedD(self.frozen_D, d_augments)

        # The same noise (and classes) for every sample grid of the run.
        gen = torch.Generator().manual_seed(cfg.seed + FIXED_NOISE_SEED_OFFSET)
        n_fixed = 2500 if self.spec.kind == "toy" else t.num_samples
        self.fixed_z = torch.randn(n_fixed, self.G.z_dim, generator=gen).to(self.device)
        self.fixed_y, self.per_class = None, 0
        if self.nets.num_classes:  # one row per class in the grids
            self.fixed_y, self.per_class = per_class_labels(n_fixed, self.nets.num_classes)
            self.fixed_z, self.fixed_y = self.fixed_z[: len(self.fixed_y)], self.fixed_y.to(self.device)

        self.started = False  # set once the run folder says "running": from then on it ends with a status
        self.step = 0  # generator updates done
        self.elapsed = 0.0  # training seconds, summed over resumes
        self.stop_signal: int | None = None
        self._acc: dict[str, torch.Tensor] = {}
        self._acc_steps = 0
        # A check of the losses after every step. Under torchrun ranks could see a nan a step
        # apart and stop at different steps, so there the check stays at the log steps, where
        # the ranks' mean is read and every rank takes the same decision.
        self.watch = DivergenceWatch(self.device) if t.check_finite and distributed.world_size() == 1 else None
        self.last_checkpoint: Path | None = None
        # d_steps == 1: the D step's fake batch is reused for the G step (one G forward per step),
        # as in PyTorch's DCGAN example.
        self.reuse_fake = t.d_steps == 1 and not self.loss.cfg.critic_warmup

    # ------------------------------------------------------------------ the step
    def d_steps_for(self, step: int) -> int:
        if self.loss.cfg.critic_warmup and (step < 25 or step % 500 == 0):
            return 100  # the official WGAN schedule
        return self._d_steps

    def latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's part of `n` (global batch) latent vectors and classes: every rank draws the
        same global batch and keeps its own slice, so ranks differ and together match one process."""
        z = torch.randn(n, self.G.z_dim, device=self.device, generator=self.noise)
        y = None
        if self.nets.num_classes:
            y = torch.randint(self.nets.num_classes, (n,), device=self.device, generator=self.noise)
        return distributed.local_part(z), distributed.local_part(y)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def _d_trainable(self, flag: bool) -> None:
        """D's weights need gradients in its own phase only. The parameter list is kept: walking the
        module tree twice a step (Module.requires_grad_) costs ~5 % of a small MLP's step."""
        if self._d_params is None:
            self._d_params = list(self.D.parameters())
        for p in self._d_params:
            p.requires_grad_(flag)

    def train_step(self, measure: bool = False) -> None:
        bs = self._batch_size
        G, D = self.train_G, self.train_D
        fake = None
        self._d_trainable(True)
        for _ in range(self.d_steps_for(self.step)):
            real, y_real = self.batches.next()
            if self.schedule is not None:  # e.g. progan: this batch's resolution and fade-in
                real = self.schedule.step(real, images=bs)  # bs: the global batch, on every rank
            real = self._prepare(real)
            if self.real_augments:
                real = apply_all(self.real_augments, real)
            z, y_fake = self.latent(bs)
            with autocast(self.device, self.amp_dtype):
                if self.reuse_fake:
                    fake = G(z, y_fake)
                    fake_d = fake.detach()
                else:
                    with torch.no_grad():
                        fake_d = G(z, y_fake)
                terms = self.loss.d_loss(D, real, fake_d, y_real, y_fake)
                ctx = StepContext(self.G, D, real, fake_d, y_real, y_fake, self.step)
                for trick in self.tricks:
                    terms.losses.update({f"{trick.name}/{k}": v for k, v in trick.d_terms(ctx).items()})
                total = terms.total()
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(total).backward()
            if measure:
                self.scaler_d.unscale_(self.opt_d)  # the norm of the true gradient, not the fp16-scaled one
                self._record("d/grad_norm", grad_norm(self.D))
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            self.loss.after_d_step(self.D)
            for trick in self.tricks:
                trick.after_d_step(self.D, self.step)
        self._record_phase("d", total, terms)

        # Generator phase: D's weights need no gradients here.
        self._d_trainable(False)
        D = self.frozen_D
        if not self.reuse_fake:
            z, y_fake = self.latent(bs)
        with autocast(self.device, self.amp_dtype):
            if not self.reuse_fake:
                fake = G(z, y_fake)
            terms = self.loss.g_loss(D, fake, y_fake, real, y_real)
            weight = math.prod(trick.g_adversarial_weight() for trick in self.tricks)
            if weight != 1.0:
                terms.losses = {k: weight * v for k, v in terms.losses.items()}
            ctx = StepContext(self.G, D, real, fake, y_real, y_fake, self.step)
            for trick in self.tricks:
                terms.losses.update({f"{trick.name}/{k}": v for k, v in trick.g_terms(ctx).items()})
            total = terms.total()
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        if measure:
            self.scaler_g.unscale_(self.opt_g)
            self._record("g/grad_norm", grad_norm(self.G))
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        self.step += 1
        for trick in self.tricks:
            trick.after_g_step(self.G, self.step)
        self._record_phase("g", total, terms)
        self._acc_steps += 1

    def _record_phase(self, phase: str, total: torch.Tensor, terms) -> None:
        """A phase's total, terms and statistics, added to the log sums in one fused op (one small
        add per value is measurable on a millisecond step)."""
        values = {f"{phase}/loss": total, **{f"{phase}/{k}": v for k, v in {**terms.losses, **terms.stats}.items()}}
        if all(k in self._acc for k in values):
            with torch.no_grad():  # no detach() per value: in-place adds outside autograd
                torch._foreach_add_([self._acc[k] for k in values],
                                    [v if v.dtype == torch.float32 else v.float() for v in values.values()])
        else:
            for k, v in values.items():
                self._record(k, v)

    def _record(self, key: str, value: torch.Tensor) -> None:
        """Accumulate on the device; read once per log interval (no host sync in the step)."""
        value = value.detach().float()
        if key in self._acc:
            self._acc[key] += value
        else:
            self._acc[key] = value.clone()

    # ------------------------------------------------------------------ the loop
    def fit(self) -> dict:
        self._install_signal_handlers()
        try:
            return self._fit()
        finally:  # also when the run fails: the next job of a sweep gets the usual Ctrl-C back
            self._restore_signal_handlers()

    def _fit(self) -> dict:
        # a plain copy: the loop reads these every step, and OmegaConf lookups cost microseconds each
        t = SimpleNamespace(**OmegaConf.to_container(self.cfg.trainer, resolve=True))
        if distributed.is_main():
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._write_summary({"status": "running"})
        self.started = True
        self.logger.open(self.step)
        log.info("run folder: %s", self.run_dir)
        log.info("data: %s; device: %s", self.data.describe(), self.device)
        log.info("G: %.2fM parameters, D: %.2fM parameters", count(self.G) / 1e6, count(self.D) / 1e6)
        interval_start, interval_step = time.perf_counter(), self.step
        with TrainingProgress(t.steps, self.step, t.progress and distributed.is_main()) as progress:
            while self.step < t.steps:
                step_start = time.perf_counter()
                measure = (self.step + 1) % t.log_every == 0 or self.step + 1 == t.steps
                if self._lr_decay != "none":
                    self._decay_learning_rates(t.steps)
                self.train_step(measure=measure)
                if self.watch is not None:
                    bad_step = self.watch.post(self.step, self._acc)
                    if bad_step is not None:
                        self._diverged(bad_step)
                self.elapsed += time.perf_counter() - step_start
                progress.advance(self.step)
                if measure:
                    now = time.perf_counter()
                    rate = (self.step - interval_step) * t.batch_size / max(now - interval_start, 1e-9)
                    row = self._flush_log(rate)
                    progress.report(self.step, row)
                    interval_start, interval_step = time.perf_counter(), self.step
                if t.sample_every and self.step % t.sample_every == 0 and self.step < t.steps:
                    self.save_samples(f"step_{self.step:07d}")
                if t.eval_every and self.step % t.eval_every == 0 and self.step < t.steps:
                    progress.score(self.step, self.evaluate(final=False))
                if t.checkpoint_every and self.step % t.checkpoint_every == 0 and self.step < t.steps:
                    self.save_checkpoint()
                if self._stop_agreed(measure) and self.step < t.steps:
                    return self._interrupted()
                if measure and self.step < t.steps and self._over_time_budget():
                    log.warning("time budget trainer.max_minutes=%g reached after step %d of %d: finishing the run",
                                t.max_minutes, self.step, t.steps)
                    break
        self._restore_signal_handlers()
        return self._finish()

    def _decay_learning_rates(self, steps: int) -> None:
        factor = lr_factor(self._lr_decay, self.step, steps)
        set_learning_rate(self.opt_g, self.cfg.optim.g.lr, factor)
        set_learning_rate(self.opt_d, self.cfg.optim.d.lr, factor)

    def _over_time_budget(self) -> bool:
        """Checked at log steps only; under torchrun the ranks agree (any rank over: all stop)."""
        budget = self.cfg.trainer.get("max_minutes")
        if budget is None:
            return False
        return bool(distributed.max_int(int(self.elapsed > 60 * budget)))

    def _finish(self) -> dict:
        self.save_samples("final")
        final = self.save_checkpoint(final=True)
        scores = self.evaluate(final=True)
        summary = {
            "status": "finished",
            "steps": self.step,
            "wall_time_s": round(self.elapsed, 2),
            "images_per_s": round(self.step * self.cfg.trainer.batch_size / max(self.elapsed, 1e-9), 1),
            **({"stopped_by": "trainer.max_minutes"} if self.step < self.cfg.trainer.steps else {}),
            "checkpoint": str(final.relative_to(self.run_dir)),
            **scores,
        }
        self._write_summary(summary)
        self.logger.close()
        if distributed.is_main():
            summary_table(f"gan train: {self.run_dir}", summary)
        return summary

    def _interrupted(self) -> dict:
        self._restore_signal_handlers()
        path = self.save_checkpoint()
        name = signal.Signals(self.stop_signal).name
        resume = run_status.resume_command(self.run_dir)
        log.warning("%s: stopped after step %d of %d; checkpoint %s. Continue with: %s",
                    name, self.step, self.cfg.trainer.steps, path, resume)
        summary = {"status": "stopped", "signal": name, "steps": self.step, "wall_time_s": round(self.elapsed, 2),
                   "resume": resume}
        self._write_summary(summary)
        self.logger.close()
        return summary

    # ------------------------------------------------------------------ logging
    def _flush_log(self, rate: float) -> dict:
        keys = list(self._acc)
        # the one sync; the mean over ranks, so every rank takes the same decisions below
        values = distributed.mean(torch.stack([self._acc[k] for k in keys])).tolist() if keys else []
        distributed.same_weights(G=self.G, D=self.D)
        row: dict = {"step": self.step, "images_per_s": round(rate, 1), "time_s": round(self.elapsed, 2)}
        if self.schedule is not None:
            row.update(self.schedule.log_row())
        for trick in self.tricks:
            row.update({f"{trick.name}/{k}": v for k, v in trick.log_row().items()})
        for k, v in zip(keys, values):
            # grad norms are measured on the last step of the interval only
            row[k] = v if k.endswith("grad_norm") else v / self._acc_steps
        self._acc.clear()
        self._acc_steps = 0
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        if self.cfg.trainer.check_finite and bad:
            self._diverged(self.step, bad[0], row[bad[0]])
        if distributed.is_main():
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            self.logger.metrics(self.step, row)
        return row

    def _diverged(self, step: int, key: str | None = None, value: float | None = None):
        """Stop the run: summary.json says why, the last good checkpoint is left as it is."""
        if key is None:  # named by the watch: find which running loss sum went non-finite
            sums = {k: float(v) for k, v in self._acc.items()}
            key = next((k for k, v in sums.items() if not math.isfinite(v)), "d/loss + g/loss")
            value = sums.get(key, math.nan)
        self._write_summary({"status": "diverged", "steps": step, "reason": f"{key} = {value}"})
        optim = self.cfg.optim
        lower = f"optim.g.lr={optim.g.lr / 2:g} optim.d.lr={optim.d.lr / 2:g}"  # half the rates that diverged
        if self.last_checkpoint is not None:
            fix = (f"the last good checkpoint is {self.last_checkpoint}; continue from it with lower learning "
                   f"rates: {run_status.resume_command(self.run_dir)} {lower}")
        else:
            fix = f"no checkpoint was written yet; start again with lower learning rates ({lower}) or another loss"
        raise DivergenceError(f"training diverged at step {step}: {key} is {value}; {fix}")

    def _write_summary(self, summary: dict) -> None:
        if not distributed.is_main():
            return
        history = run_status.read_summary(self.run_dir).get("resumes")  # written by train.resume_run
        summary = {"run_dir": str(self.run_dir), "seed": self.cfg.seed, "device": str(self.device),
                   "world_size": distributed.world_size(), **summary, **({"resumes": history} if history else {})}
        if getattr(self.data, "subset", None):  # dataset.limit: which images, so runs can be compared
            summary["dataset_subset"] = self.data.subset
        tmp = self.run_dir / ".summary.json.tmp"
        tmp.write_text(json.dumps(finite_or_none(summary), indent=2))
        os.replace(tmp, self.run_dir / "summary.json")

    # ------------------------------------------------------------------ samples and scores
    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None, batch: int = 500) -> torch.Tensor:
        return generate(self.nets.G_eval, z, y, batch)

    def _prepare_eval_generator(self) -> None:
        """Let tricks bring G_eval up to date (EMA: its own batch-norm statistics)."""
        for trick in self.tricks:
            trick.prepare_eval(self._eval_latent)

    def _eval_latent(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(n, self.G.z_dim, device=self.device, generator=gen)
        y = torch.randint(self.nets.num_classes, (n,), device=self.device, generator=gen) if self.nets.num_classes else None
        return z, y

    def save_samples(self, name: str) -> None:
        if not distributed.is_main():
            return
        self._prepare_eval_generator()
        x = self.generate(self.fixed_z, self.fixed_y)
        path = self.run_dir / "samples" / f"{name}.png"
        if self.spec.kind == "toy":
            save_scatter(x, self.spec.toy_means, self.spec.toy_std, path, title=f"{self.spec.name}, step {self.step}")
        else:
            save_image_grid(x, path, nrow=self.per_class if self.per_class > 1 else None)
        self.logger.samples(self.step, path)

    def evaluate(self, final: bool) -> dict:
        if not distributed.is_main():
            return {}
        self._prepare_eval_generator()
        scores = evaluate_generator(self.nets.G_eval, self.spec, self.cfg, self.device, self.nets.num_classes)
        if scores:
            with open(self.run_dir / "scores.jsonl", "a") as f:
                f.write(json.dumps(finite_or_none({"step": self.step, "final": final, **scores})) + "\n")
            self.logger.scores(self.step, scores)
        return scores

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        state = {
            "format": ckpt_io.FORMAT,
            "version": ckpt_io.VERSION,
            "step": self.step,
            "elapsed": self.elapsed,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "data_spec": self.spec.state_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "tricks": {trick.name: trick.state_dict() for trick in self.tricks},
            "data": self.batches.state_dict(),
            "noise": self.noise.get_state(),
            "schedule": self.schedule.state_dict() if self.schedule is not None else {},
            "rng": ckpt_io.rng_state(),
            # the log interval in progress, so a resumed run logs the same rows
            "log": {"sums": dict(self._acc), "steps": self._acc_steps},
        }
        if distributed.world_size() > 1:  # each rank's own stream (a collective: every rank calls this)
            state["rng_ranks"] = distributed.gather(state["rng"])
        return state

    def load_state_dict(self, state: dict, source: str | Path = "the checkpoint") -> None:
        needed = ("G", "D", "opt_g", "opt_d", "tricks", "data", "noise", "rng", "step") + (
            ("schedule",) if self.schedule is not None else ())
        missing = [k for k in needed if k not in state]
        if missing:
            raise GanError(f"{source} lacks {', '.join(missing)}: it cannot continue a run (was it written by `gan train`?)")
        load = ckpt_io.load_module_state
        load(self.G, state["G"], "generator", source)
        load(self.D, state["D"], "discriminator", source)
        load(self.opt_g, state["opt_g"], "generator optimizer", source)
        load(self.opt_d, state["opt_d"], "discriminator optimizer", source)
        load(self.scaler_g, state["scaler_g"], "generator grad scaler", source)
        load(self.scaler_d, state["scaler_d"], "discriminator grad scaler", source)
        for trick in self.tricks:
            if trick.name in state["tricks"]:
                load(trick, state["tricks"][trick.name], f"{trick.name} state", source)
        self._apply_optimizer_overrides(state.get("config", {}).get("optim", {}))
        self.batches.load_state_dict(state["data"])
        if self.schedule is not None:
            load(self.schedule, state["schedule"], "growth schedule", source)
        self.noise.set_state(state["noise"])
        rng = distributed.own_rng_state(state["rng"], state.get("rng_ranks"))
        if rng is not None:
            ckpt_io.set_rng_state(rng)
        else:
            log.warning("the checkpoint holds no random state for %d processes: each rank's stream restarts",
                        distributed.world_size())
            seed_everything(distributed.rank_seed(self.cfg.seed) + int(state["step"]))
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        log_state = state.get("log", {})
        if distributed.world_size() == 1:  # the sums are rank 0's own: other ranks start the interval afresh
            self._acc = {k: v.to(self.device) for k, v in log_state.get("sums", {}).items()}
            self._acc_steps = int(log_state.get("steps", 0))

    def _apply_optimizer_overrides(self, saved: dict) -> None:
        """An optimizer's state dict carries its hyper-parameters; a value the config now gives
        differently (`resume=... optim.d.lr=1e-4`) wins over the saved one."""
        for who, opt in (("g", self.opt_g), ("d", self.opt_d)):
            now, before = self.cfg.optim[who], saved.get(who, {})
            for key in ("lr", "betas", "eps", "weight_decay", "momentum"):
                value = now.get(key)
                if key not in opt.param_groups[0] or key not in before or before[key] == value:
                    continue
                log.info("resume: optim.%s.%s %s -> %s", who, key, before[key], value)
                for group in opt.param_groups:
                    group[key] = tuple(value) if key == "betas" else value

    def save_checkpoint(self, final: bool = False) -> Path:
        """Write the state atomically and point last.pt at it; a non-finite state is never written."""
        folder = self.run_dir / "checkpoints"
        if self.watch is not None and first_nonfinite(list(self._acc.items())):
            self._diverged(self.step)
        state = self.state_dict()
        bad = first_nonfinite(named_tensors({k: state[k] for k in ("G", "D", "opt_g", "opt_d", "tricks")}))
        if bad:
            raise DivergenceError(
                f"training diverged by step {self.step}: {bad} is not finite, so no checkpoint was written"
                + (f"; the last good one is {self.last_checkpoint}" if self.last_checkpoint else "")
                + "; lower the learning rates (optim.g.lr, optim.d.lr)"
            )
        path = folder / ("final.pt" if final else f"step_{self.step:07d}.pt")
        if not distributed.is_main():
            self.last_checkpoint = path
            return path
        ckpt_io.atomic_save(state, path)
        ckpt_io.link_or_copy(path, folder / "last.pt")
        self.last_checkpoint = path
        if not final:
            periodic = sorted(folder.glob("step_*.pt"))
            for old in periodic[: -self.cfg.trainer.keep_checkpoints or None]:
                old.unlink(missing_ok=True)
        return path

    # ------------------------------------------------------------------ signals
    def _install_signal_handlers(self) -> None:
        def handler(signum, frame):
            if self.stop_signal is not None:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.stop_signal = signum
            log.warning("%s received: finishing this step and writing a checkpoint", signal.Signals(signum).name)

        self._previous_handlers = {}
        # SIGUSR2: Slurm's warning before the time limit (the submitit launcher asks for it with
        # --signal=USR2@signal_delay_s; its own handler would end the job without a checkpoint).
        for sig in (signal.SIGINT, signal.SIGTERM, *([signal.SIGUSR2] if hasattr(signal, "SIGUSR2") else [])):
            try:
                self._previous_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (e.g. some launchers): leave defaults
                pass

    def _stop_agreed(self, measure: bool) -> bool:
        """Stop after a signal. Ranks may get it at different steps, so under torchrun they agree
        (and stop together) at the next log step: a collective in every step would cost more."""
        if distributed.world_size() == 1:
            return self.stop_signal is not None
        if not measure:
            return False
        self.stop_signal = distributed.max_int(self.stop_signal or 0) or None
        return self.stop_signal is not None

    def _restore_signal_handlers(self) -> None:
        for sig, previous in getattr(self, "_previous_handlers", {}).items():
            signal.signal(sig, previous)
        self._previous_handlers = {}


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def finite_or_none(obj):
    """JSON has no inf/nan: write them as null (strict readers such as jq reject Infinity)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite_or_none(v) for v in obj]
    return obj


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
