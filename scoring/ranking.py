"""Buckets by rank with ties kept together (score deciles, calibration buckets)."""

from __future__ import annotations

from collections.abc import Sequence


def rank_buckets(values: Sequence[float], buckets: int = 10) -> list[int]:
    """Each value's bucket, 1 = the highest values, by rank: values are ranked highest first and every group of
    equal values goes whole into the bucket of its middle rank. The buckets partition the values and never split
    a tie, so they are not always of equal size and some may be empty."""
    n = len(values)
    order = sorted(range(n), key=lambda i: -values[i])
    result = [0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        bucket = min(buckets, int((i + j) / 2 * buckets / n) + 1)
        for k in range(i, j + 1):
            result[order[k]] = bucket
        i = j + 1
    return result
