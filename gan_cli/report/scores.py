"""What the report knows about score names: a readable label, which direction is better (both
declared by each metric, gan_cli/metrics/registry.py), and which score ranks a sweep.

Scores are read generically (any numeric key of scores.jsonl is shown); the catalogue only makes
the known ones readable and orders them. Unknown keys keep their own name and no direction.
"""

from __future__ import annotations

from gan_cli.metrics.registry import Score, score_keys

# Every score the registered metrics write, in registry order (the report's column order).
KNOWN: dict[str, Score] = score_keys()

# Keys of a scores row that are not scores: bookkeeping and provenance (sample counts, seeds,
# timings). Strings (extractor names, hashes) are skipped anyway because they are not numbers.
NOT_SCORES = {"step", "final", "n", "num_samples", "n_samples", "n_real", "n_fake", "seed", "time_s",
              "eval_time_s", "seconds", "splits", "subsets", "subset_size", "k"}


def is_score_key(key: str, value) -> bool:
    if key in NOT_SCORES or key.endswith(("_n", "_num_samples", "_samples", "_seconds", "_time_s")):
        return False
    # A within-run spread (IS over splits, KID over subsets) is provenance for the report, which
    # shows the spread over seeds instead.
    if key.endswith("_std"):
        return False
    # What real data scores (gan_cli/metrics/image_metrics.py, the classifier's floor): a reference for G's scores, not one.
    if key.endswith("_floor") or key == "is_real":
        return False
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def info(key: str) -> Score:
    return KNOWN.get(key, Score(key, higher_is_better=None))


def ordered(keys) -> list[str]:
    """Known scores in catalogue order first, then the others alphabetically."""
    keys = set(keys)
    known = [k for k in KNOWN if k in keys]
    return known + sorted(keys - set(known))


def primary(keys) -> list[str]:
    """The score keys a sweep is ranked by, most important first: FID for images; modes then
    reverse KL for 2-D mixtures; else the first score with a known direction."""
    keys = set(keys)
    for chain in (["fid"], ["modes", "reverse_kl"], ["kid"], ["is"]):
        if chain[0] in keys:
            return [k for k in chain if k in keys]
    directed = [k for k in ordered(keys) if info(k).higher_is_better is not None]
    return directed[:1]


def as_number(key: str, value) -> float:
    if value is None:
        return info(key).null_means
    return float(value)


def brief(scores: dict) -> str:
    """The ranking scores as `modes=7 reverse_kl=0.12`, for the progress bar and logs."""
    keys = primary(scores) or ordered(k for k, v in scores.items() if is_score_key(k, v))[:2]
    return " ".join(f"{k}={as_number(k, scores[k]):.4g}" for k in keys)
