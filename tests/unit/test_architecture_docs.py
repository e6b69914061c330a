"""The README's layout table and docs/architecture.md stay true to the tree: every sub-package is listed, every
module of a sub-package is named in the architecture picture, and every path the architecture text cites exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _subpackages() -> list[Path]:
    return sorted(
        init.parent.relative_to(ROOT)
        for top in ("scoring", "streams")
        for init in (ROOT / top).rglob("__init__.py")
        if init.parent != ROOT / top and "examples" not in init.parent.parts and "__pycache__" not in init.parts
    )


def _layout_section() -> str:
    start = README.index("## Layout")
    return README[start : README.index("\n## ", start + 1)]


def test_every_subpackage_is_in_the_readme_layout_and_every_listed_folder_exists() -> None:
    layout = _layout_section()
    listed = set(re.findall(r"^\| `((?:scoring|streams)/[a-z_/]+)/` \|", layout, flags=re.MULTILINE))
    top_level = {str(package) for package in _subpackages() if len(package.parts) == 2}
    assert top_level <= listed, f"missing from the README's layout table: {sorted(top_level - listed)}"
    assert listed <= top_level, f"listed in the README but not in the tree: {sorted(listed - top_level)}"


def test_every_module_of_a_subpackage_is_named_in_the_architecture_picture() -> None:
    words = set(re.findall(r"[a-z_]+", ARCHITECTURE))
    missing = [
        str(module.relative_to(ROOT))
        for package in _subpackages()
        for module in (ROOT / package).glob("*.py")
        if module.stem not in ("__init__", "__main__") and module.stem not in words
    ]
    assert not missing, f"modules docs/architecture.md does not name: {missing}"


def test_every_path_the_architecture_cites_exists() -> None:
    cited = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", ARCHITECTURE))
    assert cited, "the architecture text cites no module paths: the pattern is wrong"
    missing = []
    for path in sorted(cited):
        candidates = [ROOT / path, ROOT / "streams" / path, ROOT / "scoring" / path]
        if not any(candidate.exists() for candidate in candidates):
            missing.append(path)
    assert not missing, f"docs/architecture.md cites modules that do not exist: {missing}"
