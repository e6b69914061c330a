"""For development, tests and benchmarks, never the worker: the embedded Tansu broker (``broker``), child
processes (``processes``) and drivers for testing models and consumers without a broker (``testing``)."""
