"""Installs are reproducible: requirements.lock pins every requirement, within its range."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def requirements(path: Path) -> list[Requirement]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found += requirements(path.parent / line[3:].strip())
        else:
            found.append(Requirement(line))
    return found


def test_the_lock_pins_every_requirement_within_its_range():
    pinned = {
        canonicalize_name(name): version
        for name, version in re.findall(
            r"^([A-Za-z0-9_.\-]+)==([^\s]+)", (ROOT / "requirements.lock").read_text(), re.M
        )
    }
    wrong = []
    for requirement in requirements(ROOT / "requirements-dev.txt"):
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement} (locked: {version}): run `make lock`")
    assert wrong == []
