"""Metrics: 2-D mode counts, and (for images) FID, IS, KID, precision/recall."""
