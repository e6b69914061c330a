"""The shadow comparison report (``leadscore models compare``): the live worker's latest scores against the shadow
worker's, model by model, from the two compacted score topics; and, where the conversions topic has WON outcomes,
a quick ROC AUC of each side's *current* scores (``leadscore evaluate`` is the rigorous, leakage-free one)."""

from __future__ import annotations

from dataclasses import dataclass

from scoring import LeadscoreError
from scoring.evaluation.comparison import Comparison, ScorePoint, agreement_matrix, compare, spearman
from scoring.evaluation.quality import roc_auc
from streams.analysis.livescores import LatestScores


class CompareError(LeadscoreError):
    """The shadow comparison cannot run as asked; the message says what to pass."""


@dataclass(frozen=True)
class QuickAuc:
    """ROC AUC of current scores against "has a WON conversion" over the leads both sides scored."""

    live: float | None
    shadow: float | None
    converted: int
    others: int


@dataclass(frozen=True)
class PairReport:
    live_model: str
    shadow_model: str
    live_versions: tuple[int, ...]
    shadow_versions: tuple[int, ...]
    comparison: Comparison  # before = live, after = shadow
    matrix: dict[tuple[str, str], int]
    spearman: float | None
    auc: QuickAuc | None
    level_sequences: frozenset[tuple[str, ...]] = frozenset()  # distinct level lists seen, to order level names

    def to_dict(self) -> dict[str, object]:
        """The pair as JSON data (``models compare --report``)."""
        data: dict[str, object] = {
            "live_model": self.live_model,
            "shadow_model": self.shadow_model,
            "live_versions": list(self.live_versions),
            "shadow_versions": list(self.shadow_versions),
            **self.comparison.to_dict(),
            "shadow_would_enter": dict(sorted(self.comparison.entering.items())),
            "shadow_would_leave": dict(sorted(self.comparison.leaving.items())),
            "level_agreement": [
                {"live": live, "shadow": shadow, "leads": leads}
                for (live, shadow), leads in sorted(self.matrix.items())
            ],
            "spearman": self.spearman,
        }
        if self.auc is not None:
            data["quick_auc_current_scores"] = {
                "live": self.auc.live,
                "shadow": self.auc.shadow,
                "converted": self.auc.converted,
                "others": self.auc.others,
                "note": "current scores (may include activity after the conversion); use `leadscore evaluate`",
            }
        return data


def model_pairs(
    live: LatestScores, shadow: LatestScores, live_model: str | None, shadow_model: str | None
) -> list[tuple[str, str]]:
    """``[(live id, shadow id)]``: the given pair, or every model id present on both topics."""
    if (live_model is None) != (shadow_model is None):
        raise CompareError("pass both --live-model and --shadow-model, or neither (models are paired by id)")
    if live_model is not None and shadow_model is not None:
        for name, side, scores in (("live", live_model, live), ("shadow", shadow_model, shadow)):
            if side not in scores.models:
                known = ", ".join(sorted(scores.models)) or "none"
                raise CompareError(f"no {name} score of model {side!r} (models on the {name} topic: {known})")
        return [(live_model, shadow_model)]
    pairs = [(model_id, model_id) for model_id in sorted(set(live.models) & set(shadow.models))]
    if not pairs:
        raise CompareError(
            f"no model id on both topics (live: {', '.join(sorted(live.models)) or 'none'}; shadow: "
            f"{', '.join(sorted(shadow.models)) or 'none'}); pass --live-model ID --shadow-model ID"
        )
    return pairs


def quick_auc(live: dict[str, ScorePoint], shadow: dict[str, ScorePoint], converted: set[str]) -> QuickAuc | None:
    both = sorted(set(live) & set(shadow))
    labels = [lead in converted for lead in both]
    positives = sum(labels)
    if not converted:
        return None
    if positives == 0 or positives == len(both):
        return QuickAuc(None, None, positives, len(both) - positives)
    return QuickAuc(
        roc_auc([live[lead].score for lead in both], labels),
        roc_auc([shadow[lead].score for lead in both], labels),
        positives,
        len(both) - positives,
    )


def converted_leads(won: dict[str, int], window_ms: int | None) -> set[str]:
    """Leads with a WON conversion; with a window, only wins within ``window_ms`` before the newest win."""
    if window_ms is None or not won:
        return set(won)
    newest = max(won.values())
    return {lead for lead, at in won.items() if at >= newest - window_ms}


def shadow_report(
    live: LatestScores,
    shadow: LatestScores,
    pairs: list[tuple[str, str]],
    converted: set[str] | None = None,
    top: int = 10,
) -> list[PairReport]:
    """One report per model pair. Leads erased on either side (tombstones) are left out of both."""
    erased = live.erased | shadow.erased
    reports = []
    for live_id, shadow_id in pairs:
        live_points = {lead: point for lead, point in live.of(live_id).items() if lead not in erased}
        shadow_points = {lead: point for lead, point in shadow.of(shadow_id).items() if lead not in erased}
        both = sorted(set(live_points) & set(shadow_points))
        reports.append(
            PairReport(
                live_model=live_id,
                shadow_model=shadow_id,
                live_versions=tuple(sorted(live.models[live_id].versions)),
                shadow_versions=tuple(sorted(shadow.models[shadow_id].versions)),
                comparison=compare(live_points, shadow_points, top),
                matrix=agreement_matrix(live_points, shadow_points),
                spearman=spearman(
                    [live_points[lead].score for lead in both], [shadow_points[lead].score for lead in both]
                ),
                auc=quick_auc(live_points, shadow_points, converted or set()),
                level_sequences=frozenset(p.levels for p in [*live_points.values(), *shadow_points.values()]),
            )
        )
    return reports
