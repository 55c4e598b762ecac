"""mediatag_ml.sql_ui: the body of mediatag.import_concept_labels_csv, run with a fake plpy."""

from __future__ import annotations

import pytest
from fake_plpy import FakePlpy, PlpyError

from mediatag_ml import sql_ui

IMPORTED = [{"item": "a.jpg", "label": "yes", "keyframes": 1}]


def _import(csv_text: str | None) -> tuple[list, list]:
    """(items, labels) that reach mediatag.import_concept_labels, after checking its rows are returned."""
    plpy = FakePlpy({"mediatag.import_concept_labels($1, $2, $3)": IMPORTED})
    assert sql_ui.import_concept_labels_csv(plpy, "aerial", csv_text) == IMPORTED
    ((concept, items, labels),) = plpy.calls("import_concept_labels")
    assert concept == "aerial"
    return items, labels


def test_a_header_names_the_columns_in_any_order():
    assert _import("\ufeffLabel, Path ,extra\nyes, a.jpg ,x\n\n no,b.jpg,y\n") == (["a.jpg", "b.jpg"], ["yes", "no"])


def test_keyframe_ids_become_keyframe_items():
    assert _import("keyframe_id,answer\n12,y\n") == (["keyframe:12"], ["y"])


def test_without_a_header_the_first_two_columns_are_item_and_label():
    assert _import("a.jpg,yes\n42,no\n") == (["a.jpg", "42"], ["yes", "no"])


@pytest.mark.parametrize(
    "csv_text, message",
    [
        (None, "the CSV is empty"),
        (" \n\t", "the CSV is empty"),
        ("x" * (16 * 1024 * 1024 + 1), "the CSV has 16777217 characters; at most 16 MiB"),
        ('"a.jpg,yes\n' + "x" * 200_000, "the CSV could not be read"),
        (
            "path,comment\na.jpg,nice\n",
            r"needs an item column \(keyframe_id, .*image\) and a label column \(label, answer",
        ),
        ("path,label\n\n", "the CSV has a header but no rows"),
        ("a.jpg,yes\nb.jpg\n", r"CSV line 2: expected an item and a label, got \['b.jpg'\]"),
        ("path,label\na.jpg,yes\nb.jpg\n", "CSV line 3: expected"),
    ],
)
def test_bad_csv_is_refused_as_invalid_parameter_value(csv_text, message):
    plpy = FakePlpy({})
    with pytest.raises(PlpyError, match=message) as e:
        sql_ui.import_concept_labels_csv(plpy, "aerial", csv_text)
    assert e.value.sqlstate == "22023" and plpy.executed == []


def test_a_long_bad_line_is_cut_in_the_message():
    with pytest.raises(PlpyError) as e:
        sql_ui.import_concept_labels_csv(FakePlpy({}), "aerial", "a.jpg,yes\n" + "b" * 1000 + "\n")
    assert len(str(e.value)) == sql_ui.MAX_ERROR_LINE
