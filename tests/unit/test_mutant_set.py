"""The hand-made mutant set (`scripts/mutants.py`, docs/testing.md) still applies: each
mutant's text occurs exactly once in its file, and each names tests that exist. Code that
moves on under a mutant would otherwise stop the set at that mutant, unnoticed until the
next run (three had, by 2026-12-05)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _mutants() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lvng_mutants", REPO / "scripts" / "mutants.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MUTANTS = _mutants().MUTANTS


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_each_mutant_applies_once_and_names_existing_tests(mutant) -> None:  # type: ignore[no-untyped-def]
    source = (REPO / mutant.path).read_text()
    assert source.count(mutant.old) == 1, f"{mutant.name}: not once in {mutant.path}"
    assert mutant.old != mutant.new
    for target in mutant.tests:
        path, _, name = target.partition("::")
        assert (REPO / path).exists(), target
        if name:
            assert f"def {name}(" in (REPO / path).read_text(), target
