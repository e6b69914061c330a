"""The one spelling of ``Any`` in the analysis, CLI, datasets and devtools packages: a record decoded from JSON or
Avro (``json.loads``, :meth:`streams.kafka.codec.AvroCodec.decode`), whose fields are what its contract says.

pyproject's mypy section disallows explicit ``Any`` in those packages and exempts this module: mypy checks the
annotations each module writes, so a module that names :data:`JsonRecord` writes no ``Any`` of its own. Use it
only at the decode boundary; what leadscore builds itself is typed (dataclasses, TypedDicts, ``object``).
"""

from __future__ import annotations

from typing import Any, TypeAlias

#: A JSON object or Avro record as decoded: field name -> value (str, int, float, bool, None, list, dict).
JsonRecord: TypeAlias = dict[str, Any]
