"""Judging models against outcomes, pure and standard-library only: cohorts of leads observed at a moment and
labelled by conversion (``cohort``, ``slices``), ROC AUC, lift and calibration (``quality``, ``ranking``,
``calibration``), the threshold trade-off (``thresholds``) and live-vs-candidate comparisons (``comparison``).
The engine never imports this package (``make lint`` checks it)."""
