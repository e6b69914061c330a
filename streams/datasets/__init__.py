"""Lead data to score: public data sets turned into events, profiles and conversions (``olist``, ``bank``, with
what they share in ``adapter``) and synthetic lead journeys (``synthetic``)."""
