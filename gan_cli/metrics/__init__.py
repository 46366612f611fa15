"""Metrics: 2-D mode counts, and for images FID, IS, KID, precision/recall, density/coverage.

toy2d.py       mode counts on the 2-D mixtures (PacGAN / VEEGAN protocol)
inception.py   the TF-ported Inception v3 (torchvision blocks, patched) and both preprocessings
classifier.py  the domain classifier (`gan classifier`) and class coverage
extractor.py   the feature-extractor interface; features.py picks one (metrics.features)
fid.py, inception_score.py, kid.py, prdc.py   the scores, each exact to its reference
sources.py     batches of samples: generators, datasets, folders, .npz
image_metrics.py  streams batches through an extractor into what the scores need
reference.py   real-data statistics, cached on disk
scores.py      evaluate_generator: what training and `gan eval` call
"""
