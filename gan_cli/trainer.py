"""The training loop: the discriminator and generator phases of a step, and the loop around them.

Read top to bottom: `__init__` assembles the run from parts built elsewhere (networks, optimizers,
batches and wrappers: gan_cli/build.py), `train_step` is one generator update preceded by the
loss's `d_steps` critic updates, `fit` runs steps until `trainer.steps` generator updates are
done, with sample grids, evaluations and checkpoints as after-step hooks with their own state
(gan_cli/hooks.py), and ends the run: finished, stopped by a signal, or diverged.
Nothing in the step synchronises with the device: losses accumulate on it (gan_cli/run_log.py)
and are read once per `log_every` steps. What a checkpoint holds is gan_cli/train_state.py's.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from omegaconf import OmegaConf

from gan_cli import distributed, run_status, runtime
from gan_cli.augment import apply_all
from gan_cli.build import build_training
from gan_cli.console import TrainingProgress, summary_table
from gan_cli.data import build_dataset, data_spec
from gan_cli.divergence import DivergenceWatch, divergence_error, nonfinite_sum
from gan_cli.hooks import Checkpoints, Evaluation, SampleGrids
from gan_cli.loggers import RunLogger, build_logger, logger_names
from gan_cli.lr_decay import decay_learning_rates
from gan_cli.run_log import RunLog
from gan_cli.train_state import TrainState
from gan_cli.tricks import StepContext

log = logging.getLogger("gan")


class Trainer:
    def __init__(self, cfg, run_dir: str | Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        t = cfg.trainer
        # read in every step: plain ints, not OmegaConf lookups
        self._batch_size, self._d_steps = int(t.batch_size), int(t.d_steps)
        self._d_params: list[torch.nn.Parameter] | None = None
        self.device = distributed.device(runtime.resolve_device(cfg.device))
        runtime.seed_everything(cfg.seed)  # the same on every rank: identical initial networks
        runtime.use_fast_cuda(self.device, t.cudnn_benchmark)

        # metrics.jsonl (the `jsonl` logger, always on) and the loggers asked for, on rank 0 alone
        logger = build_logger(["jsonl", *logger_names(cfg.logger)], self.run_dir, cfg) if distributed.is_main() else RunLogger()
        self.data = build_dataset(cfg.dataset)
        self.spec = data_spec(self.data)
        # networks, optimizers, scalers, batches, noise, and the DDP/compile/augmenting wrappers
        run = build_training(cfg, self.data, self.spec, self.device)
        self.nets, self.batches, self.noise, self.channels_last = run.nets, run.batches, run.noise, run.channels_last
        self.G, self.D, self.loss, self.tricks, self.schedule = (self.nets.G, self.nets.D, self.nets.loss,
                                                                 self.nets.tricks, self.nets.schedule)
        self.opt_g, self.opt_d, self.scaler_g, self.scaler_d = run.opt_g, run.opt_d, run.scaler_g, run.scaler_d
        self.amp_dtype, self.train_G, self.train_D, self.frozen_D = run.amp_dtype, run.train_G, run.train_D, run.frozen_D
        self.real_augments = run.real_augments
        self._lr_decay = cfg.optim.get("decay", "none")

        # the precision `trainer.amp=auto` chose on this machine: a score's provenance
        self.precision = f"{str(self.amp_dtype).removeprefix('torch.')} autocast" if self.amp_dtype else "float32"
        identity = {"run_dir": str(self.run_dir), "seed": cfg.seed, "device": str(self.device),
                    "precision": self.precision, "world_size": distributed.world_size()}
        self.run_log = RunLog(self.run_dir, logger, identity, getattr(self.data, "subset", None))
        self.state = TrainState(cfg, self.spec, self.G, self.D, self.opt_g, self.opt_d, self.scaler_g, self.scaler_d,
                                self.tricks, self.batches, self.noise, self.schedule, self.run_log, self.device)
        self.started = False  # set once the run folder says "running": from then on it ends with a status
        self.stop = runtime.StopSignals()
        # A check of the losses after every step. Under torchrun ranks could see a nan a step
        # apart and stop at different steps, so there the check stays at the log steps, where
        # the ranks' mean is read and every rank takes the same decision.
        self.watch = DivergenceWatch(self.device) if t.check_finite and distributed.world_size() == 1 else None
        # after the step's log row, in this order (gan_cli/hooks.py)
        self.samples = SampleGrids(self.nets, self.spec, self.run_log, self.run_dir, self.device, cfg.seed,
                                   t.num_samples, t.sample_every, t.steps)
        self.evaluation = Evaluation(self.nets, self.spec, cfg, self.run_log, self.device, t.eval_every, t.steps)
        self.checkpoints = Checkpoints(self.state, self.run_dir / "checkpoints", t.keep_checkpoints, t.checkpoint_every,
                                       t.steps, diverged=self._diverged if self.watch is not None else None)
        self.hooks = [self.samples, self.evaluation, self.checkpoints]
        # d_steps == 1: the D step's fake batch is reused for the G step (one G forward per step),
        # as in PyTorch's DCGAN example.
        self.reuse_fake = t.d_steps == 1 and self.loss.fixed_d_steps

    @property
    def step(self) -> int:
        return self.state.step  # generator updates done

    @property
    def elapsed(self) -> float:
        return self.state.elapsed  # training seconds, summed over resumes

    def state_dict(self) -> dict:
        return self.state.state_dict()

    def load_state_dict(self, state: dict, source: str | Path = "the checkpoint") -> None:
        self.state.load_state_dict(state, source)

    # ------------------------------------------------------------------ the step
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
        bs, step = self._batch_size, self.state.step
        G, D = self.train_G, self.train_D
        fake = None
        self._d_trainable(True)
        for _ in range(self.loss.d_steps(step, self._d_steps)):
            real, y_real = self.batches.next()
            if self.schedule is not None:  # e.g. progan: this batch's resolution and fade-in
                real = self.schedule.step(real, images=bs)  # bs: the global batch, on every rank
            real = self._prepare(real)
            if self.real_augments:
                real = apply_all(self.real_augments, real)
            z, y_fake = self.latent(bs)
            with runtime.autocast(self.device, self.amp_dtype):
                if self.reuse_fake:
                    fake = G(z, y_fake)
                    fake_d = fake.detach()
                else:
                    with torch.no_grad():
                        fake_d = G(z, y_fake)
                terms = self.loss.d_loss(D, real, fake_d, y_real, y_fake)
                ctx = StepContext(self.G, D, real, fake_d, y_real, y_fake, step)
                for trick in self.tricks:
                    terms.losses.update({f"{trick.name}/{k}": v for k, v in trick.d_terms(ctx).items()})
                total = terms.total()
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(total).backward()
            if measure:
                self.scaler_d.unscale_(self.opt_d)  # the norm of the true gradient, not the fp16-scaled one
                self.run_log.record_grad_norm("d/grad_norm", self.D)
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            self.loss.after_d_step(self.D)
            for trick in self.tricks:
                trick.after_d_step(self.D, step)
        self.run_log.record_phase("d", total, terms)

        # Generator phase: D's weights need no gradients here.
        self._d_trainable(False)
        D = self.frozen_D
        if not self.reuse_fake:
            z, y_fake = self.latent(bs)
        with runtime.autocast(self.device, self.amp_dtype):
            if not self.reuse_fake:
                fake = G(z, y_fake)
            terms = self.loss.g_loss(D, fake, y_fake, real, y_real)
            weight = math.prod(trick.g_adversarial_weight() for trick in self.tricks)
            if weight != 1.0:
                terms.losses = {k: weight * v for k, v in terms.losses.items()}
            ctx = StepContext(self.G, D, real, fake, y_real, y_fake, step)
            for trick in self.tricks:
                terms.losses.update({f"{trick.name}/{k}": v for k, v in trick.g_terms(ctx).items()})
            total = terms.total()
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        if measure:
            self.scaler_g.unscale_(self.opt_g)
            self.run_log.record_grad_norm("g/grad_norm", self.G)
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        self.state.step = step = step + 1
        for trick in self.tricks:
            trick.after_g_step(self.G, step)
        self.run_log.record_phase("g", total, terms)
        self.run_log.steps += 1

    # ------------------------------------------------------------------ the loop
    def fit(self) -> dict:
        with self.stop:  # however the run ends, the next job of a sweep gets the usual Ctrl-C back
            return self._fit()

    def _fit(self) -> dict:
        # a plain copy: the loop reads these every step, and OmegaConf lookups cost microseconds each
        t = SimpleNamespace(**OmegaConf.to_container(self.cfg.trainer, resolve=True))
        if distributed.is_main():
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_log.summary({"status": "running"})
        self.started = True
        self.run_log.logger.open(self.step)
        log.info("run folder: %s", self.run_dir)
        log.info("data: %s; device: %s; %s", self.data.describe(), self.device, self.precision)
        log.info("G: %.2fM parameters, D: %.2fM parameters",
                 *(sum(p.numel() for p in net.parameters()) / 1e6 for net in (self.G, self.D)))
        interval_start, interval_step = time.perf_counter(), self.step
        spent = runtime.budget_spent(self.elapsed, t.max_minutes)  # of trainer.max_minutes, updated at log steps
        with TrainingProgress(t.steps, self.step, t.progress and distributed.is_main()) as progress:
            self.evaluation.report = progress.score  # the progress line shows the latest scores
            while self.step < t.steps:
                step_start = time.perf_counter()
                measure = (self.step + 1) % t.log_every == 0 or self.step + 1 == t.steps
                if self._lr_decay != "none":
                    decay_learning_rates(self._lr_decay, self.cfg.optim, self.opt_g, self.opt_d, self.step, t.steps,
                                         spent)
                self.train_step(measure=measure)
                if self.watch is not None:
                    bad_step = self.watch.post(self.step, self.run_log.sums)
                    if bad_step is not None:
                        self._diverged(bad_step)
                self.state.elapsed += time.perf_counter() - step_start
                progress.advance(self.step)
                if measure:
                    now = time.perf_counter()
                    rate = (self.step - interval_step) * t.batch_size / max(now - interval_start, 1e-9)
                    progress.report(self.step, self._log_row(rate))
                    interval_start, interval_step = time.perf_counter(), self.step
                for hook in self.hooks:
                    hook.after_step(self.step)
                if self.stop.agreed(measure) and self.step < t.steps:
                    return self._interrupted()
                if measure:
                    spent = runtime.budget_spent(self.elapsed, t.max_minutes)
                    if self.step < t.steps and spent >= 1:
                        log.warning("time budget trainer.max_minutes=%g reached after step %d of %d: finishing the run",
                                    t.max_minutes, self.step, t.steps)
                        break
        self.stop.restore()
        return self._finish()

    def _log_row(self, rate: float) -> dict:
        """The metrics.jsonl row of a log step: the interval's mean losses, throughput, and what
        the growth schedule and the tricks report."""
        means = self.run_log.means()  # the one sync
        distributed.same_weights(G=self.G, D=self.D)
        row: dict = {"step": self.step, "images_per_s": round(rate, 1), "time_s": round(self.elapsed, 2)}
        if self.schedule is not None:
            row.update(self.schedule.log_row())
        for trick in self.tricks:
            row.update({f"{trick.name}/{k}": v for k, v in trick.log_row().items()})
        row.update(means)
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        if self.cfg.trainer.check_finite and bad:
            self._diverged(self.step, bad[0], row[bad[0]])
        self.run_log.logger.metrics(self.step, row)
        return row

    def _finish(self) -> dict:
        self.samples.save("final", self.step)
        final = self.checkpoints.save(final=True)
        scores = self.evaluation.evaluate(self.step, final=True)
        summary = {
            "status": "finished",
            "steps": self.step,
            "wall_time_s": round(self.elapsed, 2),
            "images_per_s": round(self.step * self.cfg.trainer.batch_size / max(self.elapsed, 1e-9), 1),
            **({"stopped_by": "trainer.max_minutes"} if self.step < self.cfg.trainer.steps else {}),
            "checkpoint": str(final.relative_to(self.run_dir)),
            **scores,
        }
        self.run_log.end(summary)
        if distributed.is_main():
            summary_table(f"gan train: {self.run_dir}", summary)
        return summary

    def _interrupted(self) -> dict:
        self.stop.restore()
        path = self.checkpoints.save()
        resume = run_status.resume_command(self.run_dir)
        log.warning("%s: stopped after step %d of %d; checkpoint %s. Continue with: %s",
                    self.stop.name, self.step, self.cfg.trainer.steps, path, resume)
        summary = {"status": "stopped", "signal": self.stop.name, "steps": self.step,
                   "wall_time_s": round(self.elapsed, 2), "resume": resume}
        self.run_log.end(summary)
        return summary

    def _diverged(self, step: int, key: str | None = None, value: float | None = None):
        """Stop the run: summary.json says why, the last good checkpoint is left as it is."""
        if key is None:  # named by the watch: find which running loss sum went non-finite
            key, value = nonfinite_sum(self.run_log.sums)
        self.run_log.summary({"status": "diverged", "steps": step, "reason": f"{key} = {value}"})
        raise divergence_error(step, key, value, self.cfg.optim, self.checkpoints.last,
                               run_status.resume_command(self.run_dir))
