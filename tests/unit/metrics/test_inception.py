"""Our TF-ported Inception equals torch-fidelity's feature extractor and pytorch-fid's network on the
same (seeded random) weights, and FID / IS through `gan eval` equal torch-fidelity's; the negative
controls show the block patches and the resize convention matter.

Inception on the CPU costs ~0.2-0.5 s per 299x299 image: the fast tests use a handful of images,
and the whole-pipeline comparison runs at a reduced network input size patched into both
implementations (the same code path; the slow test repeats it at 299).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from gan_cli.config import EvalConfig, MetricsConfig
from gan_cli.errors import GanError
from gan_cli.metrics import inception as inc
from gan_cli.metrics.inception_weights import WeightsUnavailable, locate_inception_weights
from tests.helpers import smooth_images

torch_fidelity = pytest.importorskip("torch_fidelity")
pytorch_fid = pytest.importorskip("pytorch_fid")

from pytorch_fid.inception import InceptionV3 as PytorchFidInception  # noqa: E402
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3  # noqa: E402
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x  # noqa: E402

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / WEIGHTS_NAME
    torch.save(inc.random_tf_inception_state(seed=0), path)
    return path


@pytest.fixture(scope="module")
def images():
    return smooth_images(2, seed=5)


@pytest.fixture(scope="module")
def ours(weights, images):
    return inc.InceptionExtractor(weights)(images)


@pytest.fixture(scope="module")
def fidelity_extractor(weights):
    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                       feature_extractor_weights_path=str(weights))


# ----------------------------------------------------------------------------- resize
@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 28, 28), (1, 1, 20, 37), (1, 3, 400, 350), (1, 3, 299, 299)])
def test_tf1_resize_is_bit_exact_to_torch_fidelity(shape):
    x = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0)).float()
    expected = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    assert torch.equal(inc.resize_bilinear_tf1(x, 299), expected)


def test_the_two_resize_conventions_differ():
    x = torch.randint(0, 256, (1, 3, 32, 32), generator=torch.Generator().manual_seed(0)).float()
    tf1 = inc.resize_bilinear_tf1(x, 299)
    half_pixel = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    assert (tf1 - half_pixel).abs().max() > 100  # METRICS.md: up to 162/255 on 32 -> 299 noise


# ----------------------------------------------------------------------------- features
def test_features_equal_torch_fidelity_extractor(ours, fidelity_extractor, images):
    pool3, logits = ours
    with torch.no_grad():
        their_pool3, their_logits = fidelity_extractor(images)
    assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)
    assert pool3.std() > 0.01 and logits.std() > 1  # calibrated: neither dead nor exploding
    assert torch.equal(pool3, their_pool3)
    assert torch.equal(logits, their_logits)


def test_torchvision_unpatched_blocks_do_not_match(weights, ours, images):
    net = inc.InceptionV3TF(patched=False)
    net.load_state_dict(torch.load(weights, weights_only=True))
    with torch.no_grad():
        pool3, _ = inc.inception_features(net.eval(), images)
    relative = (pool3 - ours[0]).norm() / ours[0].norm()
    assert relative > 0.05


def test_pytorch_fid_preprocessing_matches_pytorch_fid(weights, ours, images, tmp_path, monkeypatch):
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "pt_inception-2015-12-05-6726825d.pth").write_bytes(weights.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    theirs = PytorchFidInception([3]).eval()
    with torch.no_grad():
        their_pool3 = theirs(images.float() / 255)[0].flatten(1)
    pool3, _ = inc.InceptionExtractor(weights, preprocessing="pytorch_fid")(images)
    assert torch.allclose(pool3, their_pool3, rtol=1e-5, atol=1e-6)
    # negative control: the TF1 resize gives other features on the same network
    assert (ours[0] - their_pool3).norm() / their_pool3.norm() > 1e-2


# ----------------------------------------------------------------------------- scores
class _Images(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def _eval_cfg(fake, real, weights, **metrics):
    mcfg = MetricsConfig(features="inception", inception_weights=str(weights), names=["fid", "is"],
                         batch_size=5, is_splits=2, download=False)
    for k, v in metrics.items():
        setattr(mcfg, k, v)
    return OmegaConf.structured(EvalConfig(fake=str(fake), real=str(real), device="cpu", metrics=mcfg))


def _compare_with_torch_fidelity(weights, tmp_path, n: int, extra_names=(), **kwargs):
    from gan_cli.evaluate import eval_samples

    fake, real = smooth_images(n, seed=10), smooth_images(n, seed=20, shift=0.1)
    np.savez(tmp_path / "fake.npz", images=fake.permute(0, 2, 3, 1).numpy())
    np.savez(tmp_path / "real.npz", images=real.permute(0, 2, 3, 1).numpy())
    cfg = _eval_cfg(tmp_path / "fake.npz", tmp_path / "real.npz", weights, names=["fid", "is", *extra_names], **kwargs)
    ours = eval_samples(cfg, torch.device("cpu"))
    theirs = torch_fidelity.calculate_metrics(
        input1=_Images(fake), input2=_Images(real), cuda=False, fid=True, isc=True, kid="kid" in extra_names,
        isc_splits=2, kid_subset_size=kwargs.get("kid_subset_size", 1000), kid_subsets=kwargs.get("kid_subsets", 100),
        feature_extractor_weights_path=str(weights), batch_size=5, cache=False, verbose=False, save_cpu_ram=True)
    return ours, theirs


def test_fid_and_is_equal_torch_fidelity(weights, tmp_path, monkeypatch):
    # Both implementations resize to a smaller network input (same code path, 8x cheaper).
    monkeypatch.setattr(inc, "INPUT_SIZE", 107)
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 107)
    ours, theirs = _compare_with_torch_fidelity(weights, tmp_path, n=12)
    assert ours["fid"] > 1 and ours["is"] > 1.2  # far from the trivial values
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-4)
    assert ours["is_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-3, abs=1e-9)
    prov = ours["provenance"]
    assert prov["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    assert prov["num_samples"] == 12 and prov["real_num_samples"] == 12 and prov["preprocessing"] == "tf1"


@pytest.mark.slow
def test_fid_is_kid_equal_torch_fidelity_at_full_size(weights, tmp_path):
    ours, theirs = _compare_with_torch_fidelity(weights, tmp_path, n=24, extra_names=("kid",),
                                                kid_subset_size=12, kid_subsets=20)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-4)
    # torch-fidelity's kernels are float32; ours float64
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-3)


# ----------------------------------------------------------------------------- weights
def test_weights_found_in_the_torch_hub_cache(weights, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="metrics.inception_weights=PATH"):
        locate_inception_weights(None, download=False)
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / WEIGHTS_NAME).write_bytes(b"x")
    assert locate_inception_weights(None, download=False) == hub / WEIGHTS_NAME
    assert locate_inception_weights(str(weights)) == weights
    with pytest.raises(GanError, match="does not exist"):
        locate_inception_weights(str(tmp_path / "missing.pth"))


def test_offline_without_weights_training_skips_with_one_line(tmp_path, monkeypatch, caplog):
    """No weights and no network: one warning naming the fix, a `metrics_skipped` entry, no score."""
    import urllib.request

    from gan_cli.data import DataSpec
    from gan_cli.metrics import features
    from gan_cli.metrics.scores import evaluate_generator

    def offline(*args, **kwargs):
        raise OSError("no network")

    from gan_cli.metrics import inception_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(torch.hub, "urlopen", offline)  # the download goes through torch.hub
    monkeypatch.setattr(inception_weights, "_download_failure", None)
    monkeypatch.setattr(features, "_SAID", set())
    cfg = OmegaConf.create({"seed": 0, "metrics": OmegaConf.structured(MetricsConfig(features="inception"))})
    spec = DataSpec("image", "cifar10", (3, 32, 32), 3, 32, 10)
    with caplog.at_level(logging.WARNING, logger="gan"):
        first = evaluate_generator(torch.nn.Identity(), spec, cfg, "cpu")
        evaluate_generator(torch.nn.Identity(), spec, cfg, "cpu")
    assert set(first) == {"metrics_skipped"} and "download failed: no network" in first["metrics_skipped"]
    assert "pt_inception-2015-12-05-6726825d.pth" in first["metrics_skipped"]
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == 1  # once per run
    with pytest.raises(GanError, match="Inception metrics skipped"):  # `gan eval`: the error itself
        evaluate_generator(torch.nn.Identity(), spec, cfg, "cpu", strict=True)


def test_a_tampered_download_is_refused_and_removed(tmp_path, monkeypatch, caplog):
    """The download is checked against the published sha256 prefix: a file that does not match
    is deleted (no partial file either) and the reason is one line."""
    from gan_cli.metrics import inception_weights

    tampered = tmp_path / "served" / WEIGHTS_NAME
    tampered.parent.mkdir()
    tampered.write_bytes(b"not the Inception weights")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(inception_weights, "_download_failure", None)
    monkeypatch.setattr(inception_weights, "WEIGHT_URLS", {WEIGHTS_NAME: tampered.as_uri()})
    with caplog.at_level(logging.WARNING, logger="gan"), pytest.raises(WeightsUnavailable) as error:
        locate_inception_weights(None, download=True)
    message = str(error.value)
    assert "refused and deleted" in message and "does not start with 6726825d" in message and "\n" not in message
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    assert list(hub.iterdir()) == []  # neither the file nor torch.hub's .partial
    assert any("refused and deleted" in r.getMessage() for r in caplog.records)


def test_a_matching_download_is_kept(tmp_path, monkeypatch):
    from gan_cli.metrics import inception_weights
    from gan_cli.metrics.extractor import file_sha256

    served = tmp_path / "served.pth"
    served.write_bytes(b"any bytes")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    dest = tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS_NAME
    got = inception_weights._download(served.as_uri(), dest, hash_prefix=file_sha256(served)[:8])
    assert got == dest and dest.read_bytes() == b"any bytes"
