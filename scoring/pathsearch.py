"""The search behind ``scoring.path``: the fewest events whose points take a score over a line, then the least
overshoot among sets of that size. Pure combinatorics on rules' points and remaining repeat budgets.

An event (a :class:`Move`) counts for several rules at once (the rule it was made for and the unconditioned rules
of its type); a rule with a cap or ``once_per`` counts at most its remaining ``budget`` times in all. So the worth
of a set of events is ``sum(points[r] * min(budget[r], uses[r]))``. The search is exact: iterative deepening on
the number of events (1, 2, ... up to ``limit``) with a branch-and-bound depth-first search over multisets, pruned
by an upper bound on what the remaining events can still add; it gives up after ``max_nodes`` nodes per size and
then answers with the greedy set (each event the one worth most now), which it says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: The most events a path may propose: beyond it, "unreachable within 50 events".
MAX_EVENTS = 50
#: Search nodes per set size before the search falls back to the greedy set.
MAX_NODES = 200_000
#: Sets of the smallest size kept (least overshoot first), for the engine to confirm one.
KEEP = 8


@dataclass(frozen=True, slots=True)
class Move:
    """One possible event: the indices of the rules it counts for."""

    rules: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Budgets:
    """Per rule: the points one counted event adds now, and how many more times it may count (None: no limit)."""

    points: tuple[float, ...]
    budget: tuple[int | None, ...]

    def gain(self, move: Move, uses: Sequence[int]) -> float:
        """What ``move`` adds after ``uses`` (counted events per rule)."""
        return sum(self.points[r] for r in move.rules if (limit := self.budget[r]) is None or uses[r] < limit)

    def hopeful(self, move: Move, uses: Sequence[int]) -> float:
        """An upper bound on what ``move`` can add from now on (its positive rules with budget left)."""
        return sum(
            self.points[r]
            for r in move.rules
            if self.points[r] > 0 and ((limit := self.budget[r]) is None or uses[r] < limit)
        )

    def bound(self, moves: Sequence[Move], uses: Sequence[int], events: int) -> float:
        """An upper bound on what ``events`` more events can add after ``uses``."""
        best = max((self.hopeful(move, uses) for move in moves), default=0.0)
        by_rules = sum(
            p * (events if (limit := self.budget[r]) is None else min(events, max(0, limit - uses[r])))
            for r, p in enumerate(self.points)
            if p > 0
        )
        return min(events * best, by_rules)

    def total(self, chosen: Sequence[Move]) -> float:
        uses = [0] * len(self.points)
        worth = 0.0
        for move in chosen:
            worth += self.gain(move, uses)
            for r in move.rules:
                uses[r] += 1
        return worth


@dataclass(frozen=True, slots=True)
class Found:
    """Sets of the smallest size that cross (indices into the moves, least overshoot first); ``exact``: False
    when the search gave up and these are the greedy set."""

    sets: tuple[tuple[int, ...], ...]
    exact: bool = True


def smallest_sets(
    moves: Sequence[Move],
    budgets: Budgets,
    score: Callable[[float], float],
    line: float,
    sizes: range = range(1, MAX_EVENTS + 1),
    max_nodes: int = MAX_NODES,
) -> Found | None:
    """The sets of ``moves`` of the smallest size in ``sizes`` whose points take ``score`` (a non-decreasing
    function of the points added) to ``line`` or above, least overshoot first; None when no size does."""
    for size in sizes:
        search = _Search(moves, budgets, score, line, max_nodes)
        if not search.run(size):
            greedy = greedy_set(moves, budgets, score, line, sizes.stop - 1)
            return Found((greedy,), exact=False) if score(budgets.total([moves[i] for i in greedy])) >= line else None
        if search.found:
            ranked = sorted(search.found, key=lambda item: (item[0], item[1]))
            return Found(tuple(chosen for _, chosen in ranked[:KEEP]))
    return None


class _Search:
    def __init__(
        self, moves: Sequence[Move], budgets: Budgets, score: Callable[[float], float], line: float, max_nodes: int
    ) -> None:
        self.moves, self.budgets, self.score, self.line = moves, budgets, score, line
        self.nodes_left = max_nodes
        self.found: list[tuple[float, tuple[int, ...]]] = []

    def run(self, size: int) -> bool:
        """Collect every set of ``size`` moves that crosses; False when the node budget ran out."""
        try:
            self._dfs(0, size, [0] * len(self.budgets.points), 0.0, [])
        except _OutOfNodes:
            return False
        return True

    def _dfs(self, start: int, left: int, uses: list[int], worth: float, chosen: list[int]) -> None:
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise _OutOfNodes
        if left == 0:
            after = self.score(worth)
            if after >= self.line:
                self.found.append((after - self.line, tuple(chosen)))
            return
        if self.score(worth + self.budgets.bound(self.moves[start:], uses, left)) < self.line:
            return
        for index in range(start, len(self.moves)):
            move = self.moves[index]
            gain = self.budgets.gain(move, uses)
            for r in move.rules:
                uses[r] += 1
            chosen.append(index)
            self._dfs(index, left - 1, uses, worth + gain, chosen)
            chosen.pop()
            for r in move.rules:
                uses[r] -= 1


class _OutOfNodes(Exception):
    pass


def greedy_set(
    moves: Sequence[Move], budgets: Budgets, score: Callable[[float], float], line: float, limit: int = MAX_EVENTS
) -> tuple[int, ...]:
    """Up to ``limit`` moves, each the one worth most at that point, until ``score`` reaches ``line`` (or no move
    adds anything): the most a lead can gain now, one best event at a time."""
    uses = [0] * len(budgets.points)
    worth, chosen = 0.0, list[int]()
    while len(chosen) < limit and score(worth) < line:
        gains = [(budgets.gain(move, uses), -index) for index, move in enumerate(moves)]
        gain, negative_index = max(gains, default=(0.0, 0))
        if gain <= 0:
            break
        chosen.append(-negative_index)
        worth += gain
        for r in moves[-negative_index].rules:
            uses[r] += 1
    return tuple(chosen)
