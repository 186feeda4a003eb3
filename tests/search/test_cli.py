"""`sinfonia search`: the same service on the command line."""

from __future__ import annotations

import json

import pytest

from sinfonia.cli import main
from tests.search.conftest import COLL, World

pytestmark = pytest.mark.django_db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_prints_paths_and_what_matched(world: World, capsys) -> None:
    code, out, err = run(capsys, "search", "--as", "alice", "lodz")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"/{COLL}\t(collection)\tname: WP2 [Łódź]"
    assert lines[1].startswith(f"/{COLL}/Baseline\t(folder)\tdescription: ")
    assert "[Lodz]" in lines[1]
    assert lines[-1] == "1-2 of 2 (by relevance)"


def test_search_words_join_and_json_has_the_api_shape(world: World, capsys) -> None:
    code, out, _ = run(
        capsys, "search", "--as", "alice", "--json", "--limit", "1", "modality:CT", "studydate:2020"
    )
    assert code == 0
    answer = json.loads(out)
    assert (answer["total"], answer["limit"], answer["sort"]) == (2, 1, "name")
    (hit,) = answer["items"]
    assert hit["name"] == "slice1.dcm"
    assert {m["field"] for m in hit["matches"]} == {"Modality", "StudyDate"}


def test_search_respects_the_user_and_the_operator_sees_all(world: World, capsys) -> None:
    assert run(capsys, "search", "--as", "bob", "lodz")[1].splitlines() == [
        "0-0 of 0 (by relevance)"
    ]
    code, out, _ = run(capsys, "search", "--sort", "name", "--desc", "lodz", "kind:file")
    assert code == 0
    assert out.splitlines()[-1] == "1-2 of 2 (by name descending)"
    assert out.splitlines()[0].startswith(f"/{COLL}/Closed Łódź/secret Lodz.txt/secret Lodz.txt")


def test_a_malformed_query_fails_with_the_reason(world: World, capsys) -> None:
    code, out, err = run(capsys, "search", "--as", "alice", "--", "-size:>10XB")
    assert code == 1 and out == ""
    assert "size" in err and err.startswith("sinfonia: ")


def test_a_file_uploaded_into_a_folder_is_one_line(world: World, capsys) -> None:
    code, out, _ = run(capsys, "search", "--as", "alice", "draft")
    assert code == 0
    assert out.splitlines()[0].startswith(f"/{COLL}/Baseline/report draft.pdf/report draft.pdf\t")
    assert out.splitlines()[-1] == "1-1 of 1 (by relevance)"
