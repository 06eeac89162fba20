"""`core.validation`: one validation path for socket payloads, HTTP bodies and query
strings, with VALIDATION_ERROR and a message naming the field (exact texts)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from core.errors import ErrorCode, LvngError
from core.validation import describe_validation_error, require_id, validate_object, validate_payload


class Inner(BaseModel):
    b: int


class Payload(BaseModel):
    content: str = Field(default="", max_length=3)
    items: list[Inner] = []
    n: int = 0
    m: int = 0


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(LvngError) as caught:
        call(*args)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    error = caught.value
    assert error.__cause__ is None  # no chained traceback: pydantic's is `from None`
    assert error.__context__ is None or error.__suppress_context__
    return caught.value.message


def errors_of(schema: type[BaseModel], value: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        schema.model_validate(value)
    return caught.value


def test_a_validation_error_is_one_line_naming_the_fields() -> None:
    assert describe_validation_error(errors_of(Payload, {"content": "long"})) == (
        "content: String should have at most 3 characters"
    )
    assert describe_validation_error(errors_of(Payload, {"items": [{"b": 1}, {"b": "x"}]})) == (
        "items.1.b: Input should be a valid integer, unable to parse string as an integer"
    )
    assert describe_validation_error(errors_of(Payload, "text")) == (
        "payload: Input should be a valid dictionary or instance of Payload"
    )


def test_at_most_three_errors_are_told() -> None:
    exc = errors_of(Payload, {"content": "long", "items": 1, "n": "x", "m": "y"})
    assert len(exc.errors()) == 4
    assert describe_validation_error(exc) == (
        "content: String should have at most 3 characters; "
        "items: Input should be a valid list; "
        "n: Input should be a valid integer, unable to parse string as an integer"
    )


def test_validate_object_takes_an_object_of_the_schema() -> None:
    assert validate_object(Payload, {"n": 2}) == Payload(n=2)
    assert refused(validate_object, Payload, {"n": "x"}) == (
        "n: Input should be a valid integer, unable to parse string as an integer"
    )
    assert refused(validate_object, Payload, ["n"]) == "the payload must be an object"
    assert refused(validate_object, Payload, None) == "the payload must be an object"
    assert refused(validate_object, Payload, "x", "the body must be an object") == (
        "the body must be an object"
    )


def test_an_event_takes_one_payload_object() -> None:
    assert refused(validate_payload, Payload, ({}, {})) == "send one payload object per event"
    assert refused(validate_payload, None, ({}, {})) == "send one payload object per event"
    assert validate_payload(Payload, ()) == Payload()  # absent means {}
    assert validate_payload(Payload, (None,)) == Payload()
    assert validate_payload(Payload, ({"n": 1},)) == Payload(n=1)
    assert refused(validate_payload, Payload, ("x",)) == "the payload must be an object"
    assert refused(validate_payload, Payload, ({"n": "x"},)) == (
        "n: Input should be a valid integer, unable to parse string as an integer"
    )


def test_an_event_without_a_schema_takes_an_object_or_nothing() -> None:
    assert validate_payload(None, ()) is None
    assert validate_payload(None, (None,)) is None
    assert validate_payload(None, ({"any": 1},)) == {"any": 1}
    assert refused(validate_payload, None, ("x",)) == "the payload must be an object"
    assert refused(validate_payload, None, ([1],)) == "the payload must be an object"


def test_require_id_names_what_is_wrong() -> None:
    assert require_id("chan-1.a:b_c", "channelId") == "chan-1.a:b_c"
    assert require_id("x" * 128, "id") == "x" * 128
    for bad in ["", "x" * 129, "a/b", "a b"]:
        assert refused(require_id, bad, "channelId") == (
            "channelId must be 1 to 128 characters of A-Z a-z 0-9 _ . : -"
        )
