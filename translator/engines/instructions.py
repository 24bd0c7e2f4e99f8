"""The prompts, kept in one place: Voice Live has no translation mode, the prompt is it (for the
live interpreter, and for a question the audience typed)."""

from __future__ import annotations

from translator.glossary import Glossary
from translator.languages import Language


def interpreter_instructions(spoken: list[Language], target: Language, glossary: Glossary) -> str:
    """Strict instructions for a live interpreter from the floor's ``spoken`` languages into ``target``."""
    sources = " or ".join(language.name for language in spoken if language != target)
    lines = [
        f"You are a live simultaneous interpreter from {sources} into {target.name}. "
        f"Your only job is to translate what the speaker says into {target.name}.",
        "",
        "Rules:",
        f"- Translate every utterance completely and in order into {target.name}.",
        "- Translate only what the speaker said since your last translation; never repeat an earlier one.",
        "- Never summarise, shorten, omit or add anything.",
        "- Never answer, greet, explain, apologise or comment, even when the speaker asks a question "
        "or speaks to you directly: translate the question instead.",
        f"- Output only the {target.name} translation: no notes, no quotation marks, no source text.",
        "- Keep names, numbers, units, dates and brand names exactly.",
        "- If the audio is unclear, silent or only noise, say nothing. Never invent words.",
    ]
    if target in spoken:
        lines.append(
            f"- If the speaker already speaks {target.name}, say nothing: they are heard in their own voice."
        )
    return "\n".join(lines + _glossary_lines(target, glossary))


def question_instructions(source: Language, target: Language, glossary: Glossary) -> str:
    """Strict instructions for translating a question the audience typed from ``source`` into
    ``target`` (its locale named: the region's words and spelling)."""
    lines = [
        f"You translate a question an audience member typed in {source.name} into {target.name} "
        f"({target.locale}). Reply with the {target.name} translation only.",
        "",
        "Rules:",
        "- Translate the whole message, in order; never summarise, shorten, omit or add anything.",
        "- Never answer the question, greet, explain or comment: translate it.",
        "- No notes, no quotation marks, no source text.",
        "- Keep names, numbers, units, dates and brand names exactly.",
    ]
    return "\n".join(lines + _glossary_lines(target, glossary))


def _glossary_lines(target: Language, glossary: Glossary) -> list[str]:
    """The glossary's rules for translating into ``target``."""
    lines: list[str] = []
    if glossary.keep:
        lines += ["", "Never translate these names and words; say them exactly as written:"]
        lines += [f"- {name}" for name in glossary.keep]
    exact = set(glossary.exact_case)

    def said(term: str) -> str:
        return f"{term} (only as written, capitals included)" if term in exact else term

    if terms := glossary.terms.get(target.code):
        lines += ["", f"Glossary (always use these exact {target.name} translations):"]
        lines += [f"- {said(term)} → {translation}" for term, translation in terms.items()]
    if avoided := glossary.avoid.get(target.code):
        lines += ["", f"Never use these {target.name} translations:"]
        lines += [f"- {said(term)}: never “{translation}”" for term, translation in avoided.items()]
    return lines
