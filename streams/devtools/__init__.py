"""For development, tests and benchmarks, never the worker: the embedded Tansu broker (``broker``), Apache Kafka's
own (``apache_kafka``; behind a SASL_SSL listener: ``secured_kafka``), which one a run uses (``brokers``), child
processes (``processes``) and drivers for testing models and consumers without a broker (``testing``)."""
