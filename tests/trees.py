"""Fake kernel trees for the table generators in tools/, and reading back what they write."""

from pathlib import Path


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path relative to ``root`` -> text) under ``root``; return ``root``."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def module_value(text: str, name: str):
    """The value a generated module's text binds to ``name``."""
    namespace: dict = {}
    exec(text, namespace)
    return namespace[name]
