"""The training loop: the discriminator and generator phases of a step, and the loop around them.

Read top to bottom: `__init__` builds the run, `train_step` is one generator update preceded by
the loss's `d_steps` critic updates, `fit` runs steps until `trainer.steps` generator updates are
done, with sample grids, evaluations and checkpoints as after-step hooks (gan_cli/hooks.py).
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

from gan_cli import distributed, run_status
from gan_cli.augment import AugmentedD, apply_all
from gan_cli.build import CONV_ARCHS, build_networks
from gan_cli.console import TrainingProgress, summary_table
from gan_cli.data import batch_source, build_dataset, data_spec
from gan_cli.divergence import DivergenceWatch, divergence_error, first_nonfinite
from gan_cli.generation import generate, per_class_labels
from gan_cli.hooks import Every
from gan_cli.loggers import RunLogger, build_logger, logger_names
from gan_cli.lr_decay import check_decay, lr_factor, set_learning_rate
from gan_cli.metrics.scores import evaluate_generator
from gan_cli.optim import build_optimizer
from gan_cli.run_log import RunLog
from gan_cli.runtime import (
    StopSignals,
    autocast,
    autocast_dtype,
    resolve_device,
    seed_everything,
    use_channels_last,
)
from gan_cli.samples import save_image_grid, save_scatter
from gan_cli.train_state import TrainState
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

        # metrics.jsonl (the `jsonl` logger, always on) and the loggers asked for, on rank 0 alone
        logger = build_logger(["jsonl", *logger_names(cfg.logger)], self.run_dir, cfg) if distributed.is_main() else RunLogger()
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
            if not self.nets.double_backward:  # torch.compile cannot differentiate twice: D stays eager
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

        identity = {"run_dir": str(self.run_dir), "seed": cfg.seed, "device": str(self.device),
                    "world_size": distributed.world_size()}
        self.run_log = RunLog(self.run_dir, logger, identity, getattr(self.data, "subset", None))
        self.state = TrainState(cfg, self.spec, self.G, self.D, self.opt_g, self.opt_d, self.scaler_g, self.scaler_d,
                                self.tricks, self.batches, self.noise, self.schedule, self.run_log, self.device)
        self.started = False  # set once the run folder says "running": from then on it ends with a status
        self.stop = StopSignals()
        # A check of the losses after every step. Under torchrun ranks could see a nan a step
        # apart and stop at different steps, so there the check stays at the log steps, where
        # the ranks' mean is read and every rank takes the same decision.
        self.watch = DivergenceWatch(self.device) if t.check_finite and distributed.world_size() == 1 else None
        self.last_checkpoint: Path | None = None
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
            with autocast(self.device, self.amp_dtype):
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
                self.run_log.record("d/grad_norm", grad_norm(self.D))
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
        with autocast(self.device, self.amp_dtype):
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
            self.run_log.record("g/grad_norm", grad_norm(self.G))
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
        log.info("data: %s; device: %s", self.data.describe(), self.device)
        log.info("G: %.2fM parameters, D: %.2fM parameters", count(self.G) / 1e6, count(self.D) / 1e6)
        interval_start, interval_step = time.perf_counter(), self.step
        with TrainingProgress(t.steps, self.step, t.progress and distributed.is_main()) as progress:
            # after the step's log row, in this order
            hooks = [Every(t.sample_every, t.steps, lambda step: self.save_samples(f"step_{step:07d}")),
                     Every(t.eval_every, t.steps, lambda step: progress.score(step, self.evaluate(final=False))),
                     Every(t.checkpoint_every, t.steps, lambda step: self.save_checkpoint())]
            while self.step < t.steps:
                step_start = time.perf_counter()
                measure = (self.step + 1) % t.log_every == 0 or self.step + 1 == t.steps
                if self._lr_decay != "none":
                    self._decay_learning_rates(t.steps)
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
                for hook in hooks:
                    hook.after_step(self.step)
                if self.stop.agreed(measure) and self.step < t.steps:
                    return self._interrupted()
                if measure and self.step < t.steps and self._over_time_budget():
                    log.warning("time budget trainer.max_minutes=%g reached after step %d of %d: finishing the run",
                                t.max_minutes, self.step, t.steps)
                    break
        self.stop.restore()
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
        self.run_log.summary(summary)
        self.run_log.logger.close()
        if distributed.is_main():
            summary_table(f"gan train: {self.run_dir}", summary)
        return summary

    def _interrupted(self) -> dict:
        self.stop.restore()
        path = self.save_checkpoint()
        resume = run_status.resume_command(self.run_dir)
        log.warning("%s: stopped after step %d of %d; checkpoint %s. Continue with: %s",
                    self.stop.name, self.step, self.cfg.trainer.steps, path, resume)
        summary = {"status": "stopped", "signal": self.stop.name, "steps": self.step,
                   "wall_time_s": round(self.elapsed, 2), "resume": resume}
        self.run_log.summary(summary)
        self.run_log.logger.close()
        return summary

    def _diverged(self, step: int, key: str | None = None, value: float | None = None):
        """Stop the run: summary.json says why, the last good checkpoint is left as it is."""
        if key is None:  # named by the watch: find which running loss sum went non-finite
            sums = {k: float(v) for k, v in self.run_log.sums.items()}
            key = next((k for k, v in sums.items() if not math.isfinite(v)), "d/loss + g/loss")
            value = sums.get(key, math.nan)
        self.run_log.summary({"status": "diverged", "steps": step, "reason": f"{key} = {value}"})
        raise divergence_error(step, key, value, self.cfg.optim, self.last_checkpoint,
                               run_status.resume_command(self.run_dir))

    # ------------------------------------------------------------------ samples, scores, checkpoints
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
        self.run_log.logger.samples(self.step, path)

    def evaluate(self, final: bool) -> dict:
        if not distributed.is_main():
            return {}
        self._prepare_eval_generator()
        scores = evaluate_generator(self.nets.G_eval, self.spec, self.cfg, self.device, self.nets.num_classes)
        if scores:
            self.run_log.scores(self.step, final, scores)
        return scores

    def save_checkpoint(self, final: bool = False) -> Path:
        """The state as a checkpoint (gan_cli/train_state.py); a loss gone non-finite since the
        last check stops the run first, leaving the last good checkpoint as it is."""
        if self.watch is not None and first_nonfinite(list(self.run_log.sums.items())):
            self._diverged(self.step)
        self.last_checkpoint = self.state.save(self.run_dir / "checkpoints", final, self.cfg.trainer.keep_checkpoints,
                                               self.last_checkpoint)
        return self.last_checkpoint


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
