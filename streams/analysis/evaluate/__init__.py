"""``leadscore evaluate``: the run over a history (``run``), its JSON and HTML report (``report``, ``plots``) and
the Prometheus gauges of ``--follow`` (``gauges``)."""
