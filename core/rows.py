"""Many rows of one model in one statement: the multi-row `INSERT … RETURNING pk` that the
group commit (core/commits.py) and a turn's transaction (`insert_rows`) write with,
chunked under the databases' parameter limits, the generated keys read back in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient
    from tortoise.models import Model

MAX_PARAMETERS = 30_000  # per statement: SQLite allows 32,766, PostgreSQL 32,767


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one model's rows are inserted: non-generated fields and their columns."""

    table: str
    fields: tuple[str, ...]
    columns: str
    pk_field: str | None  # the generated primary key to read back, if any
    pk_column: str | None


_shapes: dict[type[Any], _Shape] = {}


def _shape_of(model: type[Model]) -> _Shape:
    shape = _shapes.get(model)
    if shape is None:
        meta = model._meta
        names = [n for n in meta.fields_db_projection if not meta.fields_map[n].generated]
        pk = meta.pk
        generated = pk is not None and pk.generated
        shape = _shapes[model] = _Shape(
            table=meta.db_table,
            fields=tuple(names),
            columns=", ".join(f'"{meta.fields_db_projection[n]}"' for n in names),
            pk_field=meta.pk_attr if generated else None,
            pk_column=meta.fields_db_projection[meta.pk_attr] if generated else None,
        )
    return shape


async def insert_rows(connection: BaseDBAsyncClient, rows: tuple[Model, ...]) -> None:
    """Insert unsaved `rows` in `connection`'s transaction as a batch does (one multi-row
    `INSERT … RETURNING` per model, in this order) and set their generated keys (before
    the COMMIT: the caller's transaction failing leaves them set on rows not stored)."""
    if not rows:
        return
    per_model: dict[type[Any], list[Model]] = {}
    for row in rows:
        per_model.setdefault(type(row), []).append(row)
    dialect = connection.capabilities.dialect
    for model, same in per_model.items():
        keys = await insert_many(connection, dialect, model, same)
        if keys is not None:
            for row, pk in zip(same, keys, strict=True):
                row.pk = pk
    for row in rows:
        row._saved_in_db = True


async def insert_many(
    connection: BaseDBAsyncClient, dialect: str, model: type[Model], rows: Sequence[Model]
) -> list[Any] | None:
    """Insert `rows` (all of `model`, in this order); their generated keys in the same
    order, or None when the model's key is not generated (the rows carry it)."""
    shape = _shape_of(model)
    per_statement = max(1, MAX_PARAMETERS // max(1, len(shape.fields)))
    generated: list[Any] | None = None if shape.pk_column is None else []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values: list[Any] = []
        for row in chunk:
            fields_map = row._meta.fields_map
            values.extend(fields_map[n].to_db_value(getattr(row, n), row) for n in shape.fields)
        sql = _insert_sql(shape, len(chunk), dialect)
        if generated is None or shape.pk_column is None:
            await connection.execute_query(sql, values)
            continue
        returned = await connection.execute_query_dict(sql, values)
        # The keys of one statement increase in the order of its VALUES (SQLite's
        # rowid, PostgreSQL's sequence): read them back sorted.
        keys = sorted(r[shape.pk_column] for r in returned)
        if len(keys) != len(chunk):
            raise RuntimeError(f"{shape.table}: {len(chunk)} rows inserted, {len(keys)} back")
        generated.extend(keys)
    return generated


_sql_cache: dict[tuple[str, int, str], str] = {}


def _insert_sql(shape: _Shape, rows: int, dialect: str) -> str:
    cache_key = (shape.table, rows, dialect)
    sql = _sql_cache.get(cache_key)
    if sql is None:
        width = len(shape.fields)
        if dialect == "postgres":
            groups = (
                "(" + ", ".join(f"${i * width + j + 1}" for j in range(width)) + ")"
                for i in range(rows)
            )
        else:
            one = "(" + ", ".join("?" * width) + ")"
            groups = (one for _ in range(rows))
        sql = f'INSERT INTO "{shape.table}" ({shape.columns}) VALUES {", ".join(groups)}'
        if shape.pk_column is not None:
            sql += f' RETURNING "{shape.pk_column}"'
        if len(_sql_cache) < 4096:
            _sql_cache[cache_key] = sql
    return sql
