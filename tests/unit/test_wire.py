"""`core.wire`: the strict JSON a client may send and the server writes (contract 3), in
process: the parser's markers, the writer's refusals and `check_value`'s exact messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import ErrorCode, LvngError
from core.wire import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    NON_FINITE,
    Refused,
    StrictJSON,
    check_value,
    dumps,
    loads,
)

# --- loads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['{"a":[1,2.5,"é",true,null]}', b'{"a":[1,2.5,"\xc3\xa9",true,null]}']
)
def test_plain_json_parses_as_usual(text: str | bytes) -> None:
    assert loads(text) == {"a": [1, 2.5, "é", True, None]}
    assert loads(bytearray(b"[1]")) == [1]
    assert loads("1", object_hook=None) == 1  # python-socketio's keyword arguments are ignored


@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", b"NaN", b"1e999"]
)
def test_non_finite_numbers_parse_to_the_marker(text: str | bytes) -> None:
    assert loads(text) is NON_FINITE


def test_finite_floats_beside_a_marker_stay_floats() -> None:
    assert loads("[NaN, 1.5, -2e3, 7]") == [NON_FINITE, 1.5, -2000.0, 7]
    assert repr(NON_FINITE) == "NON_FINITE"


@pytest.mark.parametrize("digits", [19, 20, 25, 300])
def test_long_integers_stay_exact(digits: int) -> None:
    number = int("9" * digits)
    assert loads(str(number)) == number and isinstance(loads(str(number)), int)
    assert loads(f"[{number}]".encode()) == [number]
    assert loads(f'{{"n":{number},"f":0.5}}') == {"n": number, "f": 0.5}


def test_a_lone_surrogate_parses_so_that_the_check_can_refuse_it() -> None:
    assert loads('"\\ud800"') == "\ud800"
    assert loads(b'["\\udfff"]') == ["\udfff"]


def test_too_deep_and_too_long_are_refused_not_raised() -> None:
    deep = loads("[" * 100_000 + "]" * 100_000)
    assert isinstance(deep, Refused) and deep.reason == f"JSON nested more than {MAX_DEPTH} levels"
    assert repr(deep) == "Refused('JSON nested more than 32 levels')"
    long = loads("1" * 5000)
    assert isinstance(long, Refused) and long.reason == "a number in the JSON is too long"
    assert isinstance(loads(b"[" + b"9" * 5000 + b"]"), Refused)


@pytest.mark.parametrize("text", ["{", "", "[1,]", b"{", b"nope", "1 2"])
def test_what_is_not_json_raises_value_error(text: str | bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(text)


def test_not_json_with_a_long_number_raises_too() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads("[1234567890123456789012,")


# --- dumps -----------------------------------------------------------------------------------


def test_dumps_is_compact_utf8() -> None:
    value = {"a": "é", "b": [1, 2.5, None, True], "c": (1, 2)}
    assert dumps(value) == '{"a":"é","b":[1,2.5,null,true],"c":[1,2]}'
    assert dumps(value, separators=(",", ":")) == dumps(value)
    assert StrictJSON.dumps is dumps and StrictJSON.loads is loads


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        [float("inf")],
        {"a": None, "b": {"c": [1.0, float("-inf")]}},
        {"t": (None, float("nan"))},
        [None, [[None, float("nan")]]],
    ],
)
def test_dumps_never_writes_a_non_finite_number(value: Any) -> None:
    with pytest.raises(ValueError, match="^Out of range float values are not JSON compliant$"):
        dumps(value)
    with pytest.raises(ValueError):
        dumps(value, separators=(",", ":"))


def test_nulls_and_finite_floats_are_written() -> None:
    assert dumps([None, {"x": [1.5, None]}, (None, -0.5)]) == '[null,{"x":[1.5,null]},[null,-0.5]]'
    assert dumps({"n": None, "s": "null"}) == '{"n":null,"s":"null"}'


def test_what_orjson_cannot_write_goes_to_the_standard_library() -> None:
    assert dumps([2**70, -(2**70)]) == f"[{2**70}, {-(2**70)}]"
    assert dumps([2**70], separators=(",", ":")) == f"[{2**70}]"
    assert dumps({1: "a"}) == '{"1": "a"}'
    with pytest.raises(ValueError):
        dumps([2**70, float("nan")])
    with pytest.raises(ValueError):
        dumps([2**70, float("nan")], separators=(",", ":"))


def test_other_arguments_go_to_the_standard_library_without_nan() -> None:
    assert dumps({"a": [1]}, indent=1) == '{\n "a": [\n  1\n ]\n}'
    assert dumps({"é": 1}, separators=(",", ":"), ensure_ascii=True) == '{"\\u00e9":1}'
    with pytest.raises(ValueError):
        dumps([float("nan")], indent=1)
    with pytest.raises(ValueError):
        dumps([float("nan")], allow_nan=True)  # refused whatever is asked


# --- check_value ----------------------------------------------------------------------------


def refused(value: Any, where: str = "") -> str:
    with pytest.raises(LvngError) as caught:
        check_value(value, where)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    return caught.value.message


def nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_json_values_pass() -> None:
    check_value(
        {
            "s": "text é ✓",
            "n": [INT64_MIN, INT64_MAX, 0, -1],
            "f": [1.5, -0.0, 1e300],
            "b": [True, False],
            "none": None,
            "t": ("a", 1),
            "deep": nested(MAX_DEPTH - 1),
        }
    )
    check_value(nested(MAX_DEPTH))
    check_value(None)
    check_value(True)
    check_value({})


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfff"])
def test_text_must_be_unicode_without_nul(text: str) -> None:
    message = "text must be valid Unicode without NUL characters"
    assert refused(text) == message
    assert refused({"name": text}) == f"name: {message}"
    assert refused({text: 1}) == message  # a key: named by its object's place
    assert refused({"a": {text: 1}}) == f"a: {message}"
    assert refused([{"ok": 1}, [text]], "m") == f"m.1.0: {message}"


@pytest.mark.parametrize("number", [INT64_MAX + 1, INT64_MIN - 1, 2**100, -(2**100)])
def test_integers_must_fit_in_64_bits(number: int) -> None:
    message = "integers must fit in 64 bits (-2**63 to 2**63-1)"
    assert refused(number) == message
    assert refused({"a": {"b": [1, number]}}, "meta") == f"meta.a.b.1: {message}"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), NON_FINITE])
def test_non_finite_numbers_are_refused(value: Any) -> None:
    assert refused(value) == "NaN and Infinity are not accepted"
    assert refused([value]) == "0: NaN and Infinity are not accepted"
    assert (
        refused({"score": value}, "metadata") == "metadata.score: NaN and Infinity are not accepted"
    )


def test_nesting_beyond_the_limit_is_refused_where_it_begins() -> None:
    too_deep = nested(MAX_DEPTH + 1)
    path = ".".join(["0"] * MAX_DEPTH)
    assert refused(too_deep) == f"{path}: JSON nested more than {MAX_DEPTH} levels"
    assert refused({"a": nested(MAX_DEPTH)}) == (
        "a" + ".0" * (MAX_DEPTH - 1) + f": JSON nested more than {MAX_DEPTH} levels"
    )
    deep_dict: Any = {}
    for _ in range(MAX_DEPTH):
        deep_dict = {"k": deep_dict}
    assert refused(deep_dict).endswith(f": JSON nested more than {MAX_DEPTH} levels")
    check_value(deep_dict["k"])


@pytest.mark.parametrize("value", [b"x", bytearray(b"x"), memoryview(b"x"), {"_placeholder": True}])
def test_binary_attachments_are_refused(value: Any) -> None:
    assert refused(value) == "binary attachments are not accepted"
    assert refused({"file": value}) == "file: binary attachments are not accepted"


def test_keys_must_be_strings_and_values_json() -> None:
    assert refused({1: "a"}) == "object keys must be strings"
    assert refused({"a": {None: 1}}) == "a: object keys must be strings"
    assert refused(object()) == "not a JSON value"
    assert refused({"when": {1, 2}}) == "when: not a JSON value"


def test_a_refused_parse_says_why() -> None:
    assert (
        refused(Refused("a number in the JSON is too long")) == "a number in the JSON is too long"
    )
    assert refused({"x": Refused("why")}, "p") == "p.x: why"


def test_the_place_named_is_made_safe_and_short() -> None:
    assert refused(float("nan"), "a\x00b\ud800") == "a?b?: NaN and Infinity are not accepted"
    assert refused(float("nan"), "x" * 300) == "x" * 200 + ": NaN and Infinity are not accepted"
    assert refused(float("nan"), "") == "NaN and Infinity are not accepted"


def test_every_item_is_checked_past_a_null_or_a_boolean() -> None:
    assert refused([float("nan"), None]) == "0: NaN and Infinity are not accepted"
    assert refused({"a": float("nan"), "b": True}) == "a: NaN and Infinity are not accepted"


def test_the_top_level_value_is_named_by_nothing_unless_told() -> None:
    with pytest.raises(LvngError) as caught:
        check_value(float("nan"))
    assert caught.value.message == "NaN and Infinity are not accepted"
    with pytest.raises(LvngError) as caught:
        check_value({"x": 2**64})
    assert caught.value.message == "x: integers must fit in 64 bits (-2**63 to 2**63-1)"
