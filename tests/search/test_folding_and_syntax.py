"""The pieces under the search: folding words, reading queries, and the database indexes."""

from __future__ import annotations

import pytest
from django.db import connection

from sinfonia.core.errors import Invalid
from sinfonia.core.textfold import fold, token_spans, tokens
from sinfonia.search import syntax
from sinfonia.search.selectors import search
from tests.search.conftest import World


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Łódź", ["lodz"]),
        ("ŁÓDŹ_CT-2.1", ["lodz", "ct", "2", "1"]),
        ("Straße Øresund Æther Đakovo", ["strasse", "oresund", "aether", "dakovo"]),
        ("Ωμέγα ΣΊΣΥΦΟΣ", ["ωμεγα", "σισυφοσ"]),
        ("東京大学scan", ["東", "京", "大", "学", "scan"]),
        ("ｶﾀｶﾅ", ["カ", "タ", "カ", "ナ"]),
        ("e\u0301cole ﬁle²", ["ecole", "file2"]),
        (
            "SINFONIA-T2.1-SERGAS-0042_PED.BRAIN",
            ["sinfonia", "t2", "1", "sergas", "0042", "ped", "brain"],
        ),
        ("  ---  ", []),
    ],
)
def test_folding(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected
    assert fold(text) == " ".join(expected)


def test_token_spans_point_at_the_original_characters() -> None:
    text = "WP2 Łódź, e\u0301cole"
    assert [(t, text[s:e]) for t, s, e in token_spans(text)] == [
        ("wp2", "WP2"),
        ("lodz", "Łódź"),
        ("ecole", "e\u0301cole"),
    ]


def test_long_descriptions_are_indexed_up_to_a_limit() -> None:
    assert fold("word " * 10, limit=12) == "word word"


def test_lexing_quotes_negation_and_fields() -> None:
    terms = syntax.lex('-name:"draft v2" meta."scanner model":"A \\"B\\"" 12:30 lod*')
    assert [(t.negated, t.field, t.value, t.literal) for t in terms] == [
        (True, "name", "draft v2", True),
        (False, "meta.scanner model", 'A "B"', True),
        (False, None, "12:30", False),
        (False, None, "lod*", False),
    ]
    assert [t.position for t in terms] == [1, 18, 49, 55]


@pytest.mark.parametrize(
    "query",
    ['"open', "-", "a - b", "nosuch:x", "size:big", "x" * 2001],
)
def test_malformed_queries_raise_invalid(query: str) -> None:
    with pytest.raises(Invalid):
        syntax.parse(query)


@pytest.mark.django_db
def test_the_full_text_index_answers_word_queries(world: World) -> None:
    """The backend's conditions are the indexed expressions: words are looked up in the
    index, not found by reading every name (tests/search/... at scale: bench/search.py)."""
    from sinfonia.core.context import Actor
    from sinfonia.resources.models import Node
    from sinfonia.search import backends

    actor = Actor(user=world.alice.user, channel="test")
    assert search(actor, "lodz").total == 2
    clause = backends.TextClause(("name", "description"), backends.Phrase(("lodz",)))
    qs = Node.objects.filter(backends.current().text_match([clause]))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # a few rows: the planner would rather read them
            cursor.execute("SET enable_seqscan = off")
    plan = qs.explain()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
        assert "search_node_name_fts" in plan and "search_node_description_fts" in plan, plan
    else:
        assert "VIRTUAL TABLE INDEX" in plan and "search_node_fts" in plan, plan
    assert qs.count() == 8  # everything named or described so, trash included


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite keeps its index by triggers")
def test_lost_triggers_come_back_after_migrate(world: World) -> None:
    """A migration that rebuilds the node table drops its triggers; post_migrate restores
    them, so renames keep reaching the index."""
    from django.apps import apps
    from django.db.models.signals import post_migrate

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER search_node_fts_update")
    search = apps.get_app_config("search")
    post_migrate.send(
        sender=search,
        app_config=search,
        verbosity=0,
        interactive=False,
        using="default",
        apps=apps,
        plan=[],
    )
    a = world.admin
    a.ok(a.patch(f"/resources/{world.ids['notes.txt']}", {"name": "Kraków.txt"}))
    assert world.names(world.alice, "krakow") == {"Kraków.txt"}
