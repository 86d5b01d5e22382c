"""An upgrade of Flask-AppBuilder (or Jinja, Flask-Session, RQ) that changes a private
method Kartoteka relies on fails here, with the method's name."""

from __future__ import annotations

import ast
from pathlib import Path

from app.admin import overrides

ROOT = Path(__file__).resolve().parent.parent


def test_the_private_methods_kartoteka_relies_on_are_as_recorded():
    assert overrides.changed() == []


def test_every_private_library_method_kartoteka_overrides_is_fenced():
    """A method named like a library's private one, defined in a class of app/, must
    be listed in app/overrides.py (the list cannot fall behind the code)."""
    fenced = {name for _owner, name, _signature, _used in overrides.PRIVATE}
    library_private = set()
    for path, *_ in overrides.PRIVATE:
        library_private |= {
            n for n in dir(overrides.owner(path)) if n.startswith("_") and not n.startswith("__")
        }
    ours = set()
    for source in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (
                        isinstance(item, ast.FunctionDef)
                        and item.name.startswith("_")
                        and not item.name.startswith("__")
                    ):
                        ours.add(item.name)
    assert (ours & library_private) - fenced == set()
