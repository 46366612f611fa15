"""The DataSpec: what the networks (and samplers, and metrics of 2-D data) need to know about the
data, saved in every checkpoint so that sampling and evaluation never need the dataset itself.
A dataset tells the networks its `resolution`, `channels` and `num_classes`, so no size is
written twice in the configs."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.data.toy2d import GaussianMixture


@dataclass
class DataSpec:
    kind: str  # image | toy
    name: str
    shape: tuple
    channels: int
    resolution: int
    num_classes: int
    toy_means: torch.Tensor | None = None
    toy_std: float | None = None

    def state_dict(self) -> dict:
        return {k: (list(v) if k == "shape" else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_state(cls, state: dict) -> DataSpec:
        return cls(**{**state, "shape": tuple(state["shape"])})


def data_spec(data) -> DataSpec:
    if isinstance(data, GaussianMixture):
        return DataSpec("toy", data.name, (2,), 0, 0, 0, data.means.clone(), data.std)
    return DataSpec("image", data.name, tuple(data.shape), data.channels, data.resolution, data.num_classes)
