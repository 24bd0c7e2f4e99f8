"""The Voice Live turn book on a floor of two languages: which turns go to the model, which pass
through, and in what order. Pure bookkeeping, no connection."""

from __future__ import annotations

from translator.engines.voicelive.turns import MAX_AWAITING_LANGUAGE, FloorLanguages, TurnBook

SPANISH_SESSION = FloorLanguages(("en", "es"), "es", reported=True)


def native_turn(book: TurnBook, item: str) -> None:
    """A native model: the item is in the conversation at the commit, its language comes later."""
    book.commit(item)
    book.created(item, None)


def test_a_turn_in_the_sessions_own_language_waits_for_its_language_then_passes_through() -> None:
    book = TurnBook(floor=SPANISH_SESSION)
    native_turn(book, "a")
    native_turn(book, "b")
    assert book.next_group() is None, "a response now would see turns whose language is unknown"
    book.transcribed("a", "good morning", "en-US")
    assert book.next_group() is None, "b is in the conversation and may be Spanish"
    book.transcribed("b", "buenos días", "es-ES")
    group = book.next_group()
    assert group is not None and [t.item_id for t in group.turns] == ["a"]
    passed = book.passed()
    assert [(t.item_id, t.language, t.transcript) for t in passed] == [("b", "es", "buenos días")]
    assert "b" in book.stale(), "its item leaves the conversation before the next response"


def test_a_sentence_is_never_passed_through_ahead_of_the_one_before_it() -> None:
    book = TurnBook(floor=SPANISH_SESSION)
    for item, text, locale in (("a", "hello", "en-US"), ("b", "hola", "es-ES")):
        book.commit(item)
        book.transcribed(item, text, locale)  # a cascaded model: recognised first,
        book.created(item, text)  # then in the conversation
    assert book.passed() == [], "b waits behind a, which goes to the model first"
    group = book.next_group()
    assert group is not None and [t.item_id for t in group.turns] == ["a"]
    assert [t.item_id for t in book.passed()] == ["b"]


def test_a_turn_whose_language_never_comes_does_not_hold_the_talk_up() -> None:
    book = TurnBook(floor=SPANISH_SESSION)
    native_turn(book, "lost")
    for n in range(MAX_AWAITING_LANGUAGE):
        native_turn(book, f"t{n}")
        book.transcribed(f"t{n}", f"sentence {n}", "en-US")
        assert n + 1 == MAX_AWAITING_LANGUAGE or book.next_group() is None
    group = book.next_group()
    assert group is not None and [t.item_id for t in group.turns][0] == "lost", "taken as English"


def test_a_session_whose_language_is_not_spoken_never_waits() -> None:
    book = TurnBook(floor=FloorLanguages(("en", "es"), "fr", reported=True))
    native_turn(book, "a")
    group = book.next_group()
    assert group is not None and [t.item_id for t in group.turns] == ["a"] and book.passed() == []
