"""What the loop does after a step besides training: sample grids, evaluations, checkpoints.

A hook's `after_step(step)` runs after every step, once the step's log row is written, in the
order the trainer lists its hooks (detectron2's HookBase, reduced to what the loop needs). The
end of the run is not a hook: the trainer's `_finish` writes the final grid, checkpoint and
scores itself.
"""

from __future__ import annotations

from collections.abc import Callable


class Hook:
    def after_step(self, step: int) -> None:
        """`step`: the generator updates done."""


class Every(Hook):
    """`action(step)` every `every` steps (0: never), except at step `last`: the end of the run
    does that work itself, once."""

    def __init__(self, every: int, last: int, action: Callable[[int], object]):
        self.every, self.last, self.action = every, last, action

    def after_step(self, step: int) -> None:
        if self.every and step % self.every == 0 and step < self.last:
            self.action(step)
