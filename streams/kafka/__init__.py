"""Talking to Kafka: the Avro wire format (``codec``), the Schema Registry (``registry``), topic names and
creation (``topics``), the default partitioner (``partitioner``), batched sends (``producer``), security
settings for each client (``security``), a secured cluster's login and certificate checked before the clients
start (``access``), true end offsets (``endoffsets``) and small clients for tools (``clients``). Knows nothing of
the worker, the CLI or offline analysis (``make lint`` checks it)."""
