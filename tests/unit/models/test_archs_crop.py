"""Non-square images are centre-cropped (dataset.crop=center) or padded (dataset.crop=pad)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gan_cli.data import build_dataset
from gan_cli.data.images import load_image
from gan_cli.errors import GanError


def stripes(path, width, height, band):
    """Black image with a white band [band[0], band[1]) along the long side."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    if width > height:
        array[:, band[0] : band[1]] = 255
    else:
        array[band[0] : band[1], :] = 255
    Image.fromarray(array).save(path)
    return path


def test_wide_image_is_centre_cropped(tmp_path):
    path = stripes(tmp_path / "wide.png", 40, 20, (10, 30))  # the centre 20x20 is the white band
    x = load_image(path, 20, 3, "center")
    assert x.shape == (3, 20, 20) and (x == 255).all()


def test_tall_image_is_padded_with_black(tmp_path):
    path = stripes(tmp_path / "tall.png", 20, 40, (0, 40))  # all white, 20 wide
    x = load_image(path, 40, 1, "pad")
    assert x.shape == (1, 40, 40)
    assert (x[:, :, 10:30] == 255).all() and (x[:, :, :10] == 0).all() and (x[:, :, 30:] == 0).all()


def test_unknown_crop_is_refused(tmp_path):
    path = stripes(tmp_path / "wide.png", 40, 20, (10, 30))
    with pytest.raises(GanError, match="dataset.crop"):
        load_image(path, 20, 3, "stretch")


def test_folder_of_mixed_sizes_becomes_one_square_resolution(tmp_path):
    for i, (w, h) in enumerate([(64, 48), (30, 90), (32, 32), (178, 218)]):
        stripes(tmp_path / f"{i}.png", w, h, (0, 5))
    from omegaconf import OmegaConf

    from gan_cli.config import DatasetConfig

    cfg = OmegaConf.merge(OmegaConf.structured(DatasetConfig), {"name": "folder", "root": str(tmp_path),
                                                                 "resolution": 32, "crop": "pad"})
    data = build_dataset(cfg)
    assert data.images.shape == (4, 3, 32, 32)
