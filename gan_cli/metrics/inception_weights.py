"""Finding the TF-ported Inception weights: `metrics.inception_weights=PATH`, else the torch hub
cache under either published file name, else a download into that cache, verified against the
published sha256 prefix (both file names end in it) by torch.hub.download_url_to_file: a file
whose hash does not match is deleted and never used. Offline and without them,
`WeightsUnavailable` says so in one line with what to do; a score is never invented.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import urllib.error
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
SHA256_PREFIX = "6726825d"  # the published files' hash prefix, as both names carry it
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
            except HashMismatch as e:
                _download_failure = str(e)
                log.warning("%s", e)
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                _download_failure = f"the download failed: {getattr(e, 'reason', e)}"
    failure = _download_failure if download else failure
    name, url = next(iter(WEIGHT_URLS.items()))
    raise WeightsUnavailable(
        f"Inception metrics skipped: no Inception weights (metrics.inception_weights unset, none in {folder}, "
        f"{failure}): download {url} where there is a network and pass metrics.inception_weights=PATH "
        f"(or copy it into {folder})"
    )


class HashMismatch(GanError):
    """A downloaded file is not the published one (it has been deleted)."""


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """torch.hub opens the URL without a timeout: an unreachable host must not hang a run's end."""
    saved = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(saved)


def _download(url: str, dest: Path, hash_prefix: str = SHA256_PREFIX) -> Path:
    """torch.hub's download: into a temporary file beside `dest`, moved into place only when its
    sha256 starts with `hash_prefix`; otherwise the temporary file is removed and HashMismatch
    says so in one line."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading Inception weights %s", url)
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            torch.hub.download_url_to_file(url, str(dest), hash_prefix=hash_prefix, progress=False)
    except RuntimeError as e:
        if "invalid hash value" not in str(e):
            raise
        dest.unlink(missing_ok=True)
        raise HashMismatch(f"the download of {url} was refused and deleted: its sha256 does not start with "
                           f"{hash_prefix} ({e}); fetch it again, or pass a verified copy as "
                           "metrics.inception_weights=PATH") from None
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
