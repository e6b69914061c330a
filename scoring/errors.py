"""The one exception root of leadscore.

Every error that leadscore raises on purpose derives from :class:`LeadscoreError`. Each docstring says what an
operator should do about it; the message names the file, topic or field at fault.
"""

from __future__ import annotations


class LeadscoreError(Exception):
    """Something leadscore cannot go on with. Read the message: it names the thing to fix."""


class ModelError(LeadscoreError):
    """A scoring model file is invalid or unreadable.

    Fix the file and field named in the message (for example ``b2b.yaml: rules[3].points: expected a number``),
    then check it with ``leadscore validate-model PATH`` before restarting the worker.
    """


class InvalidEventError(LeadscoreError):
    """An input event breaks the contract (missing lead id, unknown type, impossible timestamp).

    The worker does not stop for it: the message goes to the dead-letter topic with this error's text as the
    reason. Fix the producer that wrote it; the dead letter carries the topic, partition and offset.
    """
