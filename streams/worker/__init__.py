"""The scoring worker: the Faust app (``app``), its agents and timers, the per-message decisions
(``processor``), the batch fast path (``batch``) and its per-event twin (``perevent``), decay ticks (``ticks``),
exact recovery (``recovery``), model reload (``reload``), the query API (``api``), deployment receipts
(``audit``) and metrics (``metrics``). ``run`` starts it. Imports no CLI, analysis, dataset or dev-tool code."""
