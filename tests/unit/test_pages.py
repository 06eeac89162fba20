"""`core.pages`: a page of stored things stays under the contract's 1 MB budget."""

from __future__ import annotations

from core.api import MAX_PAGE_JSON, json_size, within_budget


def test_json_size_is_compact_utf8():
    assert json_size({"a": [1, 2]}) == len('{"a":[1,2]}')
    assert json_size("é") == 4  # two quotes and two bytes


def test_a_page_is_cut_from_the_end_it_keeps():
    items = [{"n": n, "pad": "x" * 100} for n in range(10)]
    each = json_size(items[0]) + 1
    forward = within_budget(items, keep_newest=False, budget=3 * each + 1)
    back = within_budget(items, keep_newest=True, budget=3 * each + 1)
    assert [i["n"] for i in forward] == [0, 1, 2]
    assert [i["n"] for i in back] == [7, 8, 9]
    assert within_budget(items, keep_newest=False) == items  # well under 1 MB


def test_one_item_always_passes_so_a_reader_moves_on():
    huge = [{"pad": "x" * (MAX_PAGE_JSON + 10)}, {"n": 1}]
    assert within_budget(huge, keep_newest=False) == huge[:1]


def test_a_cut_page_fits_the_budget_exactly_as_a_json_array():
    """The page's JSON, brackets and commas included, is what the budget bounds: with
    small items the separators are most of the page."""
    items = list(range(1, 10))  # each one byte of JSON
    for budget in range(3, 20):
        page = within_budget(items, keep_newest=False, budget=budget)
        assert json_size(page) <= budget
        assert len(page) == max(1, min(len(items), (budget - 1) // 2))
    assert within_budget(items, keep_newest=True, budget=json_size([8, 9])) == [8, 9]
    assert within_budget(items, keep_newest=True, budget=json_size([8, 9]) - 1) == [9]
