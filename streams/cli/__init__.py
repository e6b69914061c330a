"""The ``leadscore`` command: ``main`` holds the app and the small commands; each larger command group has a
module of its own (``data``, ``evaluate``, ``fit``, ``models``, ``audit``, ``demo``); ``common`` holds what they
share (one-line errors, the --bootstrap option, durations, progress bars)."""
