"""``leadscore evaluate``: the run over a history (``runner``), its JSON and HTML report (``report``, ``plots``) and
the Prometheus gauges of ``--follow`` (``gauges``)."""
