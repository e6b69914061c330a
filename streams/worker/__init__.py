"""The scoring worker: the Faust app built from the settings (``app``), what it hands on and the topics it reads
and sends to (``wiring``), the lead-state table (``table``), its agents (``agents``), timers and start-up tasks
(``timers``), the per-message decisions (``processor``), the batch fast path (``batch``) and its per-event twin
(``perevent``), decay ticks (``ticks``), exact recovery (``recovery``), model reload (``reload``), the web views
(``api``), deployment receipts (``audit``), metrics (``metrics``) and the consumer's fetch wait (``fetching``).
``run`` starts it. Imports no CLI, analysis, dataset or dev-tool code."""
