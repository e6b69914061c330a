"""docs/testing.md shows tests/examples/test_my_model.py whole, so the example a reader copies is one that passes."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_doc_shows_the_example_test_verbatim() -> None:
    doc = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", doc, flags=re.DOTALL | re.MULTILINE)
    example = (ROOT / "tests" / "examples" / "test_my_model.py").read_text(encoding="utf-8")
    assert blocks == [example], "docs/testing.md's example differs from tests/examples/test_my_model.py: copy it over"
