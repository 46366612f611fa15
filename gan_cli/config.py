"""Structured-config schemas for every config group.

Every YAML file under conf/ is merged onto these dataclasses, so a misspelt key
(`trainer.stepz=5`) or a wrong type (`trainer.steps=abc`) is refused by Hydra with a message
naming the key, before any work starts. Fields documented here are the user-facing names; each
numeric field carries its valid range (`ranged(default, rule)`, gan_cli/config_ranges.py). The
`loss` and `tricks` schemas are built from the losses' and tricks' own config dataclasses
(gan_cli/config_components.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from gan_cli.config_components import LossConfig, TricksConfig
from gan_cli.config_ranges import FRACTION, SEED, Range, count, interval, non_negative, positive, ranged


@dataclass
class DatasetConfig:
    # ring | grid (generated 2-D mixtures) | mnist | fashion_mnist | cifar10 | folder | celeba
    name: str = MISSING
    # Where the files are, or are downloaded to. null: ~/.cache/gan/data (or $GAN_DATA).
    root: str | None = None
    # Image side in pixels; null keeps the dataset's native size. Images are centre-cropped
    # (or padded, see `crop`) to a square and resized to it.
    resolution: int | None = ranged(None, Range(4, 2048))
    crop: str = "center"  # center | pad
    # folder/celeba: 3 (RGB) or 1 (grey); null: the dataset's own (1 for MNIST-like, else 3)
    channels: int | None = ranged(None, Range(1, 4))
    split: str = "train"
    download: bool = True
    # Keep class labels and train a class-conditional model.
    conditional: bool = False
    # Hold the whole dataset on the training device as one uint8 tensor (fast for small
    # datasets); auto = when it fits in `max_in_memory_mb`.
    in_memory: str = "auto"  # auto | true | false
    max_in_memory_mb: int = ranged(4096, non_negative())
    num_workers: int = ranged(2, non_negative(256))
    # 2-D mixtures only: number of points per "epoch" is irrelevant, they are drawn fresh.
    std: float | None = ranged(None, positive())  # null: the paper's value (ring 0.01, grid 0.05)
    # Train on a fixed subset: N images (e.g. 600) or a fraction in (0, 1] (e.g. 0.01), the same
    # images for every seed and run (gan_cli/data/subset.py); null: all. FID's reference
    # statistics stay those of the whole split. Any: an int or a float, so its range is checked by
    # gan_cli/data/subset.py, which knows both forms.
    limit: Any = None


@dataclass
class GrowConfig:
    """arch=progan: the progressive-growing schedule, counted in real images shown to D."""

    start_resolution: int = ranged(4, Range(4, 1024))
    # images at each resolution once faded in (and at the start); the paper: 600k-800k
    stable_images: int = ranged(600_000, count(10**10))
    # images over which a new resolution fades in, alpha rising linearly 0 -> 1
    fade_images: int = ranged(600_000, count(10**10))


@dataclass
class ArchConfig:
    name: str = MISSING  # mlp | dcgan | resnet | progan
    z_dim: int = ranged(100, count(4096))
    # mlp
    g_hidden: list[int] = ranged(rule=count(65536), default_factory=lambda: [128, 128, 128])
    d_hidden: list[int] = ranged(rule=count(65536), default_factory=lambda: [128, 128, 128])
    activation: str = "relu"  # relu | leaky_relu | tanh
    # conv nets: base channel count
    width: int = ranged(64, count(2048))
    # batch | instance | layer | none; d_norm=auto picks layer norm for losses with a gradient
    # penalty (batch norm breaks the per-sample penalty) and batch norm otherwise.
    g_norm: str = "batch"
    d_norm: str = "auto"
    # dcgan: N(0, 0.02) weights as in the DCGAN paper | default: the arch's own (PyTorch's for
    # mlp and dcgan; Xavier as in SNGAN for resnet; N(0, 1) with run-time scaling for progan)
    init: str = "dcgan"
    # resnet: sngan (sum pooling) | wgan_gp (mean pooling). Spectral norm is tricks=[spectral_norm],
    # which arch=resnet selects (conf/arch/resnet.yaml)
    variant: str | None = None
    # progan: the growing schedule (set by conf/arch/progan.yaml)
    grow: GrowConfig | None = None
    # stylegan2 (gan_cli/models/stylegan2.py; stylegan2-ada-pytorch's names in brackets):
    w_dim: int = ranged(512, count(4096))
    mapping_layers: int = ranged(8, count(64))  # [map] 8 in the paper, 2 in the `cifar` and `auto` configs
    mapping_lr: float = ranged(0.01, positive(1))  # the mapping network's learning-rate multiplier
    channel_base: int = ranged(32768, count(2**20))  # channels at resolution r: min(channel_base / r, channel_max) [fmaps * 32768]
    channel_max: int = ranged(512, count(4096))
    conv_clamp: float | None = ranged(256.0, positive())  # clip activations to +-256 (for fp16); null: never
    mbstd_group_size: int = ranged(4, count(4096))  # [mbstd] minibatch-stddev groups in D
    d_architecture: str = "resnet"  # resnet (residual D) | orig (no shortcuts: the `cifar` config)
    # probability per batch of style mixing regularisation (0.9 in the paper; needs a mapping network)
    style_mixing: float = ranged(0.0, FRACTION)
    # biggan (gan_cli/models/biggan.py): shared class embedding size (0: one embedding per
    # conditional batch norm, the CIFAR-10 script), z split across blocks, self-attention after
    # the block with this output resolution (0: none)
    shared_dim: int = ranged(128, non_negative(4096))
    hierarchical: bool = True
    attention: int = ranged(64, non_negative(2048))


@dataclass
class OptimizerConfig:
    name: str = "adam"  # adam | rmsprop | sgd
    lr: float = ranged(2e-4, positive())
    betas: list[float] = ranged(rule=Range(0, 1, high_open=True), default_factory=lambda: [0.5, 0.999])
    eps: float = ranged(1e-8, positive())
    weight_decay: float = ranged(0.0, non_negative())
    momentum: float = ranged(0.0, Range(0, 1, high_open=True))  # sgd / rmsprop


@dataclass
class OptimConfig:
    # Each network has its own optimizer (TTUR: different learning rates for G and D).
    g: OptimizerConfig = field(default_factory=OptimizerConfig)
    d: OptimizerConfig = field(default_factory=OptimizerConfig)
    # none | linear | cosine: both learning rates fall to 0 at trainer.steps (gan_cli/lr_decay.py)
    decay: str = "none"
    # the fraction of trainer.steps run at the full rates before the decay begins
    decay_start: float = ranged(0.0, Range(0, 1, high_open=True))


@dataclass
class TrainerConfig:
    steps: int = ranged(2000, count(10**9))  # generator updates
    # Training-time budget in minutes (summed over resumes; sampling, checkpoints and scores not
    # counted): past it, the run ends at the next log step and finishes as usual (final samples,
    # checkpoint, scores), its summary saying so. null: no budget. Keeps the default CPU recipe
    # within its ten minutes on a slower machine, at the cost of fewer steps there.
    max_minutes: float | None = ranged(None, positive())
    # The global batch: a distributed run splits it evenly over its processes (docs/cluster.md).
    batch_size: int = ranged(64, count(65536))
    d_steps: int = ranged(1, count(1000))  # discriminator (critic) updates per generator update
    checkpoint_every: int = ranged(1000, interval())
    keep_checkpoints: int = ranged(3, non_negative(10**6))  # periodic checkpoints kept besides last.pt and final.pt
    sample_every: int = ranged(500, interval())
    eval_every: int = ranged(0, interval())  # 0: only at the end
    log_every: int = ranged(50, count(10**9))
    # Mixed precision, auto | bf16 | fp16 | off. auto: bf16 on GPUs (fp16 where bf16 is emulated), and bf16 for conv
    # nets on CPUs that compute it natively (AVX512-BF16, AMX); float32 otherwise (gan_cli/runtime.py)
    amp: str = "auto"
    channels_last: str = "auto"  # auto (conv nets on GPUs) | true | false
    compile: bool = False  # torch.compile both networks (D stays eager under gradient penalties)
    cudnn_benchmark: bool = True
    # Distributed runs: batch norm over the global batch (SyncBatchNorm, GPUs only) instead of
    # each process's slice of it.
    sync_batchnorm: bool = False
    # Number of fixed-noise samples in each grid.
    num_samples: int = ranged(64, count(10_000))
    progress: bool = True
    # Check losses and weights for NaN/inf every log step (stops the run with a message).
    check_finite: bool = True


@dataclass
class MetricsConfig:
    # Feature extractor for image metrics: auto (the domain classifier for MNIST-like data when
    # one is stored, Inception for the rest when its weights are here; else skipped with a hint)
    # | inception | classifier | none
    features: str = "auto"
    # fid | is | kid | pr (precision/recall) | dc (density/coverage)
    names: list[str] = field(default_factory=lambda: ["fid", "is", "kid"])
    num_samples: int = ranged(10000, count())  # generated samples scored (50k is the usual protocol for papers)
    batch_size: int = ranged(200, count(65536))
    # Path to the TF-ported Inception weights (pt_inception-2015-12-05-6726825d.pth); null:
    # the torch hub cache ($TORCH_HOME/hub/checkpoints), then a download (when `download`).
    inception_weights: str | None = None
    download: bool = True
    # tf1: uint8, TF1 bilinear resize, (x - 128) / 128 (torch-fidelity, TTUR, stylegan2) |
    # pytorch_fid: its F.interpolate resize. Scores are comparable only within one.
    preprocessing: str = "tf1"
    classifier: str | None = None  # a `gan classifier` file; null: ~/.cache/gan/classifiers/<dataset>.pt
    cache_dir: str | None = None  # reference statistics; null: ~/.cache/gan/stats
    real_split: str = "train"
    real_num_samples: int | None = ranged(None, count())  # real images in the reference; null: the whole split
    real_features: int | None = ranged(None, count())  # real feature rows for kid/pr/dc; null: as many as generated
    is_splits: int = ranged(10, count(1000))
    is_shuffle: bool = True  # torch-fidelity shuffles (seed 2020) before splitting; improved-gan does not
    kid_subsets: int = ranged(100, count(10**5))
    kid_subset_size: int = ranged(1000, count())
    pr_k: int = ranged(3, count(1000))
    dc_k: int = ranged(5, count(1000))
    toy_samples: int = ranged(2500, count())


@dataclass
class TrackerConfig:
    """Options of the experiment trackers (logger=mlflow, logger=wandb)."""

    # MLflow: where runs are stored; null: the file store mlruns/ in the folder gan runs from.
    tracking_uri: str | None = None
    # MLflow experiment / W&B project the runs go to.
    project: str = "gan"


@dataclass
class SweepConfig:
    """What a hyperparameter search (hydra/sweeper=optuna) optimises; plain sweeps ignore it."""

    # A score of summary.json: fid, kid, is, precision, recall, density, coverage (images) or
    # modes, hq_fraction, reverse_kl (2-D mixtures); null: fid for images, modes for 2-D data.
    objective: str | None = None
    # minimize | maximize; null: the objective's own (fid down, modes up); a contradiction is refused.
    direction: str | None = None


@dataclass
class TrainConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    arch: ArchConfig = field(default_factory=ArchConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    seed: int = ranged(0, SEED)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    # Continue a stopped run: its folder. The run's saved config is used.
    resume: str | None = None
    # Where else to log (JSONL is always written): jsonl | tensorboard | mlflow | wandb, or a
    # list of them: logger=[tensorboard,mlflow]. Their options: tracker.*
    logger: Any = "jsonl"
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    verbose: bool = False
    # Set by experiment presets, shown in summaries.
    experiment: str | None = None


@dataclass
class ReportConfig:
    # The folder to report on: a run folder, a sweep folder, or any folder holding run folders.
    # `gan report DIR` sets it.
    dir: str = MISSING
    out: str | None = None  # where the CSV, Markdown and PNG files go; null: <dir>/report
    # The score to rank by (fid, modes, is, ...); null: FID, or modes then reverse KL.
    sort: str | None = None
    plots: bool = True
    # Seconds between regenerations for a sweep in flight (`gan report --watch[=SECONDS] DIR`);
    # 0: write once. Watching stops when every run has finished, failed or stopped.
    watch: float = ranged(0.0, non_negative())
    verbose: bool = False


@dataclass
class EvalConfig:
    """`gan eval`: one of checkpoint, run (every checkpoint of a run folder) or fake (+ real)."""

    checkpoint: str | None = None
    run: str | None = None
    # A folder of images or an .npz (uint8 N x H x W x C; 2-D points under `points`)
    fake: str | None = None
    # A dataset name (its metrics.real_split), a folder, an .npz of images or of statistics (mu, sigma)
    real: str | None = None
    out: str | None = None  # write the scores to this JSON file
    ema: bool = True  # score the EMA generator when the run kept one
    data_root: str | None = None  # where the real dataset is, if not where the run found it
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    device: str = "auto"
    verbose: bool = False


@dataclass
class SampleConfig:
    """`gan sample`: n samples from a checkpoint to a folder of PNGs or one .npz."""

    checkpoint: str | None = None
    n: int = ranged(64, count())
    out: str | None = None
    # class to draw for conditional generators (`class=K` on the command line); null: all in turn
    label: int | None = ranged(None, non_negative(10**6))
    # null: the run's seed, so the samples are the ones `gan eval` scored
    seed: int | None = ranged(None, SEED)
    ema: bool = True
    batch_size: int = ranged(500, count(65536))
    # StyleGAN2: pull each w towards the average w by this factor, in (0, 1]; 1: no truncation
    truncation: float = ranged(1.0, Range(0, 1, low_open=True))
    device: str = "auto"
    verbose: bool = False


@dataclass
class ClassifierConfig:
    """`gan classifier`: the domain classifier used as a feature extractor."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    epochs: int = ranged(2, count(10**4))
    batch_size: int = ranged(128, count(65536))
    lr: float = ranged(2e-3, positive())
    width: int = ranged(32, count(2048))
    # 128 features (was 256) and float16 storage keep the file under 1 MB, small enough to ship
    # inside the package (gan_cli/assets/); accuracy and the real floor are measured on the
    # stored (rounded) weights
    feature_dim: int = ranged(128, count(65536))
    weights_dtype: str = "float16"  # float16 | float32: how the weights are stored
    seed: int = ranged(0, SEED)
    device: str = "auto"
    # also write the file here; it is always stored as ~/.cache/gan/classifiers/<dataset>.pt
    out: str | None = None
    verbose: bool = False


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="report_schema", node=ReportConfig)
    cs.store(name="eval_schema", node=EvalConfig)
    cs.store(name="sample_schema", node=SampleConfig)
    cs.store(name="classifier_schema", node=ClassifierConfig)
