"""R2 regularisation (Mescheder et al. 2018): R1's zero-centred gradient penalty on D, at
generated data instead of real data.

  r2:  (gamma / 2) E ||grad D(G(z))||^2 on generated data
The same keys as r1 (gamma, half, every: gan_cli/tricks/r1.py).
"""

from __future__ import annotations

from gan_cli.tricks.base import register_trick
from gan_cli.tricks.r1 import R1, R1Config


@register_trick("r2", config=R1Config, order=100)
class R2(R1):
    on_real = False
