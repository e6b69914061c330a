"""Ranks with ties shared (ROC AUC, Spearman) and buckets by rank with ties kept together (deciles, calibration)."""

from __future__ import annotations

from collections.abc import Sequence


def average_ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, lowest value first, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def rank_buckets(values: Sequence[float], buckets: int = 10) -> list[int]:
    """Each value's bucket, 1 = the highest values, by rank: values are ranked highest first and every group of
    equal values goes whole into the bucket of its middle rank. The buckets partition the values and never split
    a tie, so they are not always of equal size and some may be empty."""
    n = len(values)
    # a tie's middle position counted from the highest value (0-based) is n - its average rank from the lowest
    return [min(buckets, int((n - rank) * buckets / n) + 1) for rank in average_ranks(values)]
