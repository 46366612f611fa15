"""Metrics: 2-D mode counts, and for images FID, IS, KID, precision/recall, density/coverage.

Each score family is a registered object in its own file (registry.py says what it declares):
fid.py, inception_score.py, kid.py, prdc.py (pr and dc), predicted_classes.py (class coverage
with the domain classifier), toy2d.py (mode counts on the 2-D mixtures, PacGAN / VEEGAN protocol).

The machinery they share:
inception.py   the TF-ported Inception v3 (torchvision blocks, patched) and both preprocessings
classifier.py  the domain classifier (`gan classifier`)
extractor.py   the feature-extractor interface; features.py picks one (metrics.features)
sources.py     batches of samples: generators, datasets, folders, .npz
image_metrics.py  streams batches through an extractor into what the chosen metrics accumulate
reference.py   real-data statistics, cached on disk
scores.py      evaluate_generator: what training and `gan eval` call
settings.py    the metrics settings checked before any work starts
"""

import importlib
import pkgutil

# Every module here that is not shared machinery is a metric's own file: importing it registers
# the metric, so a new metric is a new file and nothing else. Imported in file-name order, the
# order of the scores in summary.json (registry.py).
_MACHINERY = {"classifier", "extractor", "features", "image_metrics", "inception", "inception_weights",
              "reference", "registry", "scores", "settings", "sources"}
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _MACHINERY:
        importlib.import_module(f"{__name__}.{_module}")
