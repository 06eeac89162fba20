"""Every integer a client sends that may reach the database has an upper bound in its
schema (issue 21, finding 6: an `afterSeq` of 2**63 crashed the query), for every
inbound model of every built-in plugin and of the example plugin."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from core.api import INT64_MAX, Outbound
from core.gateway import AuthRefresh

REPO = Path(__file__).resolve().parents[2]


def inbound_models() -> Iterator[type[BaseModel]]:
    modules = [f"plugins.{p.parent.name}.schemas" for p in REPO.glob("plugins/*/schemas.py")]
    assert len(modules) >= 5, modules
    for name in modules:
        module = importlib.import_module(name)
        for _, model in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(model, BaseModel)
                and not issubclass(model, Outbound)
                and model.__module__ == name
            ):
                yield model
    yield AuthRefresh


def unbounded_integers(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        if (
            node.get("type") == "integer"
            and "maximum" not in node
            and "exclusiveMaximum" not in node
        ):
            yield path or "."
        for key, child in node.items():
            yield from unbounded_integers(child, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from unbounded_integers(child, f"{path}.{index}")


def test_every_inbound_integer_has_an_upper_bound():
    found = {
        f"{model.__module__}.{model.__name__}": list(unbounded_integers(model.model_json_schema()))
        for model in inbound_models()
    }
    assert len(found) > 20, sorted(found)
    assert {name: paths for name, paths in found.items() if paths} == {}


def test_the_bound_is_the_bigint_column():
    from plugins.swarm.schemas import ReadQuery, Subscribe

    assert Subscribe.model_json_schema()["properties"]["afterSeq"]["anyOf"][0]["maximum"] == (
        INT64_MAX
    )
    assert ReadQuery.model_validate({"afterSeq": str(INT64_MAX)}).afterSeq == INT64_MAX
