"""Structured-config schemas for every config group.

Every YAML file under conf/ is merged onto these dataclasses, so a misspelt key
(`trainer.stepz=5`) or a wrong type (`trainer.steps=abc`) is refused by Hydra with a message
naming the key, before any work starts. Fields documented here are the user-facing names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class DatasetConfig:
    # ring | grid (generated 2-D mixtures) | mnist | fashion_mnist | cifar10 | folder | celeba
    name: str = MISSING
    # Where the files are, or are downloaded to. null: ~/.cache/gan/data (or $GAN_DATA).
    root: str | None = None
    # Image side in pixels; null keeps the dataset's native size. Images are centre-cropped
    # (or padded, see `crop`) to a square and resized to it.
    resolution: int | None = None
    crop: str = "center"  # center | pad
    # folder/celeba: 3 (RGB) or 1 (grey); null: the dataset's own (1 for MNIST-like, else 3)
    channels: int | None = None
    split: str = "train"
    download: bool = True
    # Keep class labels and train a class-conditional model.
    conditional: bool = False
    # Hold the whole dataset on the training device as one uint8 tensor (fast for small
    # datasets); auto = when it fits in `max_in_memory_mb`.
    in_memory: str = "auto"  # auto | true | false
    max_in_memory_mb: int = 4096
    num_workers: int = 2
    # 2-D mixtures only: number of points per "epoch" is irrelevant, they are drawn fresh.
    std: float | None = None  # null: the paper's value (ring 0.01, grid 0.05)
    # Train on a fixed subset: N images (e.g. 600) or a fraction in (0, 1] (e.g. 0.01), the same
    # images for every seed and run (gan_cli/data/subset.py); null: all. FID's reference
    # statistics stay those of the whole split. Any: an int or a float.
    limit: Any = None


@dataclass
class GrowConfig:
    """arch=progan: the progressive-growing schedule, counted in real images shown to D."""

    start_resolution: int = 4
    # images at each resolution once faded in (and at the start); the paper: 600k-800k
    stable_images: int = 600_000
    # images over which a new resolution fades in, alpha rising linearly 0 -> 1
    fade_images: int = 600_000


@dataclass
class ArchConfig:
    name: str = MISSING  # mlp | dcgan | resnet | progan
    z_dim: int = 100
    # mlp
    g_hidden: list[int] = field(default_factory=lambda: [128, 128, 128])
    d_hidden: list[int] = field(default_factory=lambda: [128, 128, 128])
    activation: str = "relu"  # relu | leaky_relu | tanh
    # conv nets: base channel count
    width: int = 64
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
    w_dim: int = 512
    mapping_layers: int = 8  # [map] 8 in the paper, 2 in the `cifar` and `auto` configs
    mapping_lr: float = 0.01  # the mapping network's learning-rate multiplier
    channel_base: int = 32768  # channels at resolution r: min(channel_base / r, channel_max) [fmaps * 32768]
    channel_max: int = 512
    conv_clamp: float | None = 256.0  # clip activations to +-256 (for fp16); null: never
    mbstd_group_size: int = 4  # [mbstd] minibatch-stddev groups in D
    d_architecture: str = "resnet"  # resnet (residual D) | orig (no shortcuts: the `cifar` config)
    # probability per batch of style mixing regularisation (0.9 in the paper; needs a mapping network)
    style_mixing: float = 0.0
    # biggan (gan_cli/models/biggan.py): shared class embedding size (0: one embedding per
    # conditional batch norm, the CIFAR-10 script), z split across blocks, self-attention after
    # the block with this output resolution (0: none)
    shared_dim: int = 128
    hierarchical: bool = True
    attention: int = 64


@dataclass
class LossConfig:
    # minimax | ns | lsgan | hinge | wgan | wgan_gp | wgan_div | dragan | ragan |
    # fgan_kl | fgan_rkl | fgan_js | fgan_pearson | fgan_hellinger
    name: str = MISSING
    # wgan: weight clipping range [-clip, clip] after every critic step
    clip: float = 0.01
    # wgan_gp / dragan: penalty weight and target norm
    gp_weight: float = 10.0
    gp_center: float = 1.0
    # dragan: perturbed points x + dragan_scale * std(x) * U[0, 1)
    dragan_scale: float = 0.5
    # wgan_div: (k/2) (E ||grad D(x_real)||^p + E ||grad D(x_fake)||^p)
    div_k: float = 2.0
    div_p: float = 6.0
    # lsgan targets: fake a, real b, generator c (0, 1, 1 by default)
    lsgan_a: float = 0.0
    lsgan_b: float = 1.0
    lsgan_c: float = 1.0
    # ragan: halve each loss as the official code does (the paper's equations do not)
    ragan_half: bool = False
    # f-GANs: G minimises the saddle objective -E f*(g_f(V(G(z)))) instead of the paper's
    # practical -E g_f(V(G(z)))
    fgan_saddle: bool = False
    # wgan family: ProGAN's drift term eps * E[D(x)^2]
    drift: float = 0.0
    # wgan: the official code's schedule of 100 critic steps for the first 25 G steps and
    # every 500th G step.
    critic_warmup: bool = False


@dataclass
class OptimizerConfig:
    name: str = "adam"  # adam | rmsprop | sgd
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0  # sgd / rmsprop


@dataclass
class OptimConfig:
    # Each network has its own optimizer (TTUR: different learning rates for G and D).
    g: OptimizerConfig = field(default_factory=OptimizerConfig)
    d: OptimizerConfig = field(default_factory=OptimizerConfig)
    # none | linear | cosine: both learning rates fall to 0 at trainer.steps (gan_cli/lr_decay.py)
    decay: str = "none"


@dataclass
class MinibatchDiscriminationConfig:
    num_kernels: int = 100  # B
    kernel_dim: int = 5  # C


@dataclass
class HistoricalAveragingConfig:
    weight: float = 1e-3
    networks: str = "both"  # d | g | both


@dataclass
class LabelSmoothingConfig:
    real: float = 0.9
    # Two-sided smoothing (fake target > 0) is a known anti-pattern; only on explicit request.
    fake: float = 0.0


@dataclass
class FeatureMatchingConfig:
    # squared: ||E f(x) - E f(G(z))||^2 (the paper / MNIST code); l1: the CIFAR code
    distance: str = "squared"
    # weight of the feature-matching term; the plain generator loss keeps weight `adversarial`
    weight: float = 1.0
    adversarial: float = 0.0


@dataclass
class MinibatchStddevConfig:
    group_size: int = 4


@dataclass
class SpectralNormConfig:
    networks: str = "d"  # d | g | both
    power_iterations: int = 1


@dataclass
class EMAConfig:
    decay: float = 0.999
    start_step: int = 0
    # decay_t = min(decay, (1 + t) / (10 + t)) at step t: early on the average forgets the random
    # initial weights quickly (TensorFlow's ExponentialMovingAverage num_updates)
    warmup: bool = False
    # recompute the EMA generator's batch-norm statistics from this many batches of its own
    # samples before every sample grid and evaluation (0: copy G's, which belong to other weights)
    bn_batches: int = 0


@dataclass
class PackConfig:
    m: int = 2


@dataclass
class R1Config:
    # Penalty (gamma/2) E||grad D(x)||^2 (the paper). GAN_stability's code omits the 1/2: set
    # half=false to match it.
    gamma: float = 10.0
    half: bool = True
    every: int = 1  # lazy regularisation: apply every N D steps (scaled by N)


@dataclass
class DiffAugmentConfig:
    # comma-separated, applied in order: color | translation | cutout (Zhao et al. 2020)
    policy: str = "color,translation,cutout"
    # all: every image D sees (the method) | reals: the real batch only (the negative control)
    apply_to: str = "all"


@dataclass
class ADAConfig:
    # groups blit | geom | color, or single operations (xflip, rot90, int_translation, scale,
    # rotate, aniso, frac_translation, brightness, contrast, lumaflip, hue, saturation)
    augment: list[str] = field(default_factory=lambda: ["blit", "geom", "color"])
    target: float = 0.6  # r_t = E[sign(D(x_real))] is steered toward it
    interval: int = 4  # D updates between adjustments of p
    kimg: float = 500.0  # thousands of images for p to go from 0 to 1
    initial_p: float = 0.0
    max_p: float = 0.99  # p < 1: every augmentation stays non-leaking
    apply_to: str = "all"  # all | reals (the negative control)


@dataclass
class LeCamConfig:
    weight: float = 0.3  # lambda (the official BigGAN CIFAR scripts)
    decay: float = 0.99  # of the moving averages a_R, a_F
    form: str = "code"  # code: relu as the official code | paper: plain squares


@dataclass
class ConsistencyConfig:
    lambda_real: float = 10.0
    lambda_fake: float = 10.0


@dataclass
class PathLengthConfig:
    """StyleGAN2's path-length regularisation of G (tricks=[path_length], arch=stylegan2)."""

    weight: float = 2.0
    every: int = 4  # lazy: every N-th G update, scaled by N
    decay: float = 0.01  # of the running mean path length
    batch_shrink: int = 2  # computed on batch_size / batch_shrink samples


@dataclass
class OrthogonalConfig:
    """BigGAN's orthogonal regularisation of G (tricks=[orthogonal], arch=biggan)."""

    strength: float = 1e-4


@dataclass
class TricksConfig:
    minibatch_discrimination: MinibatchDiscriminationConfig | None = None
    historical_averaging: HistoricalAveragingConfig | None = None
    label_smoothing: LabelSmoothingConfig | None = None
    feature_matching: FeatureMatchingConfig | None = None
    minibatch_stddev: MinibatchStddevConfig | None = None
    spectral_norm: SpectralNormConfig | None = None
    ema: EMAConfig | None = None
    pack: PackConfig | None = None
    r1: R1Config | None = None
    r2: R1Config | None = None
    diffaugment: DiffAugmentConfig | None = None
    ada: ADAConfig | None = None
    lecam: LeCamConfig | None = None
    consistency: ConsistencyConfig | None = None
    path_length: PathLengthConfig | None = None
    orthogonal: OrthogonalConfig | None = None


@dataclass
class TrainerConfig:
    steps: int = 2000  # generator updates
    # Training-time budget in minutes (summed over resumes; sampling, checkpoints and scores not
    # counted): past it, the run ends at the next log step and finishes as usual (final samples,
    # checkpoint, scores), its summary saying so. null: no budget. Keeps the default CPU recipe
    # within its ten minutes on a slower machine, at the cost of fewer steps there.
    max_minutes: float | None = None
    # The global batch: a distributed run splits it evenly over its processes (docs/cluster.md).
    batch_size: int = 64
    d_steps: int = 1  # discriminator (critic) updates per generator update
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3  # periodic checkpoints kept besides last.pt and final.pt
    sample_every: int = 500
    eval_every: int = 0  # 0: only at the end
    log_every: int = 50
    # Mixed precision: auto = bf16 autocast on GPUs that support it, off on CPU.
    amp: str = "auto"  # auto | bf16 | fp16 | off
    channels_last: str = "auto"  # auto (conv nets on GPUs) | true | false
    compile: bool = False  # torch.compile both networks (D stays eager under gradient penalties)
    cudnn_benchmark: bool = True
    # Distributed runs: batch norm over the global batch (SyncBatchNorm, GPUs only) instead of
    # each process's slice of it.
    sync_batchnorm: bool = False
    # Number of fixed-noise samples in each grid.
    num_samples: int = 64
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
    num_samples: int = 10000  # generated samples scored (50k is the usual protocol for papers)
    batch_size: int = 200
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
    real_num_samples: int | None = None  # real images in the reference; null: the whole split
    real_features: int | None = None  # real feature rows for kid/pr/dc; null: as many as generated
    is_splits: int = 10
    is_shuffle: bool = True  # torch-fidelity shuffles (seed 2020) before splitting; improved-gan does not
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    dc_k: int = 5
    toy_samples: int = 2500


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
    seed: int = 0
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
    watch: float = 0.0
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
    n: int = 64
    out: str | None = None
    # class to draw for conditional generators (`class=K` on the command line); null: all in turn
    label: int | None = None
    # null: the run's seed, so the samples are the ones `gan eval` scored
    seed: int | None = None
    ema: bool = True
    batch_size: int = 500
    # StyleGAN2: pull each w towards the average w by this factor, in (0, 1]; 1: no truncation
    truncation: float = 1.0
    device: str = "auto"
    verbose: bool = False


@dataclass
class ClassifierConfig:
    """`gan classifier`: the domain classifier used as a feature extractor."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    epochs: int = 2
    batch_size: int = 128
    lr: float = 2e-3
    width: int = 32
    # 128 features (was 256) and float16 storage keep the file under 1 MB, small enough to ship
    # inside the package (gan_cli/assets/); accuracy and the real floor are measured on the
    # stored (rounded) weights
    feature_dim: int = 128
    weights_dtype: str = "float16"  # float16 | float32: how the weights are stored
    seed: int = 0
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
