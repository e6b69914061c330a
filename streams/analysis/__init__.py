"""Offline work on a deployment's topics and files, outside the worker: reading histories back (``history``),
scoring them offline (``offline``), replaying them to the broker (``replay``), the latest live scores
(``livescores``), rescoring under a new model (``rescore``), shadow-vs-live comparison (``shadow``, ``tables``)
and ``leadscore evaluate``'s runs, reports, plots and gauges (``evaluate``); typed views of the untyped Kafka
clients (``clients``) and the one name for a decoded JSON/Avro record (``jsontypes``)."""
