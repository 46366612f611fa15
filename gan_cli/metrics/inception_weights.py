"""Finding the TF-ported Inception weights: `metrics.inception_weights=PATH`, else the torch hub
cache under either published file name, else a download into that cache. Offline and without
them, `WeightsUnavailable` says so in one line with what to do; a score is never invented.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

import torch

from gan_cli.errors import GanError

log = logging.getLogger("gan")

# Both releases hold the same network in torchvision's key layout (pytorch-fid's first).
WEIGHT_URLS = {
    "pt_inception-2015-12-05-6726825d.pth":
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    "weights-inception-2015-12-05-6726825d.pth":
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
}
DOWNLOAD_TIMEOUT_S = 20
_download_failure: str | None = None  # tried once per process: evaluations during training do not retry


class WeightsUnavailable(GanError):
    """No Inception weights here: Inception metrics are skipped (training) or refused (gan eval)."""


def hub_checkpoints() -> Path:
    """$TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints), where pytorch-fid and
    torch-fidelity keep their downloads."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def locate_inception_weights(path: str | None = None, download: bool = True) -> Path:
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise GanError(f"metrics.inception_weights={path} does not exist: give the path of "
                           f"{next(iter(WEIGHT_URLS))} (download it from {next(iter(WEIGHT_URLS.values()))})")
        return p
    folder = hub_checkpoints()
    for name in WEIGHT_URLS:
        if (folder / name).is_file():
            return folder / name
    global _download_failure
    failure = "downloads are off (metrics.download=false)"
    if download and _download_failure is None:
        for name, url in WEIGHT_URLS.items():
            try:
                return _download(url, folder / name)
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                _download_failure = f"the download failed: {getattr(e, 'reason', e)}"
    failure = _download_failure if download else failure
    name, url = next(iter(WEIGHT_URLS.items()))
    raise WeightsUnavailable(
        f"Inception metrics skipped: no Inception weights (metrics.inception_weights unset, none in {folder}, "
        f"{failure}): download {url} where there is a network and pass metrics.inception_weights=PATH "
        f"(or copy it into {folder})"
    )


def _download(url: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    log.info("downloading Inception weights %s", url)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as f:
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def load_inception_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors only (weights_only=True: a file that needs pickle is refused)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unreadable, truncated or pickled: one line below
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise GanError(f"cannot load Inception weights {path} ({first}): fetch the file again") from None
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise GanError(f"{path} is not a TF-ported Inception state dict (no 'fc.weight'): use "
                       f"{next(iter(WEIGHT_URLS))} from pytorch-fid or torch-fidelity")
    return state
