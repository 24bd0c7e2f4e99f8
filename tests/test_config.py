"""Settings: sources in order, and a clear error naming the field for every bad value."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from translator.config import load_settings
from translator.errors import ConfigError


def test_later_sources_win(tmp_path: Path) -> None:
    config = tmp_path / "translator.toml"
    config.write_text(
        'targets = ["it"]\n[server]\nport = 9000\nevent_name = "Synod"\n[azure]\nmodel = "gpt-4o"\n'
    )
    settings = load_settings(
        str(config),
        env={
            "AZURE_COGNITIVE_SERVICES_ENDPOINT": "https://alias.example/",
            "AZURE_VOICELIVE_MODEL": "gpt-4.1",
        },
        overrides={"server.port": 9100, "server.host": None},
    )
    assert settings.targets == ["it"]
    assert settings.server.port == 9100 and settings.server.event_name == "Synod"
    assert settings.server.host == "127.0.0.1"
    assert settings.azure.endpoint == "https://alias.example/" and settings.azure.model == "gpt-4.1"
    assert settings.resolved_engine() == "voicelive"
    assert load_settings(env={}).resolved_engine() == "local"


def test_the_primary_azure_names_beat_the_aliases() -> None:
    settings = load_settings(
        env={"AZURE_VOICELIVE_API_KEY": "primary", "AZURE_COGNITIVE_SERVICES_KEY": "alias"}
    )
    assert settings.azure.api_key == "primary"


def test_the_api_key_never_shows_in_a_repr() -> None:
    settings = load_settings(
        env={"AZURE_VOICELIVE_API_KEY": "hunter2-secret"},
        overrides={"audio.input": "publish", "audio.publish_key": "publishing-secret-3"},
    )
    assert "hunter2-secret" not in repr(settings) and "publishing-secret-3" not in repr(settings)
    pulled = load_settings(env={}, overrides={"audio.input": "rtmp://media:1935/live/stream-key-4?auth=x"})
    assert "stream-key-4" in repr(pulled) and "auth=x" not in repr(pulled), "the query is left out"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"targets": ["es", "xx"]}, "targets[1]", "available: ar, ca, de"),
        ({"source": "klingon"}, "source", "unknown language"),
        ({"targets": ["en"]}, "targets[0]", "source language"),
        ({"server.port": 70000}, "server.port", "between 1 and 65535"),
        ({"server.port": "http"}, "server.port", "Expected `int`"),
        (
            {"engine": "whisper"},
            "engine",
            "'whisper' is not one of: auto, realtime-translate, voicelive, local",
        ),
        ({"audio.input": "/no/such/talk.wav"}, "audio.input", "no such file"),
        (
            {"audio.input": "publish", "audio.publish_key": "short"},
            "audio.publish_key",
            "must be 16 to 79 characters",
        ),
        ({"audio.channel": 0}, "audio.channel", "counted from 1"),
        (
            {"audio.input": "udp://desk:9000"},
            "audio.input",
            "udp:// streams cannot be read; use one of: http, https, rtmp, rtmps, rtsp, srt",
        ),
        ({"engine": "voicelive"}, "azure.endpoint", "AZURE_VOICELIVE_ENDPOINT"),
        ({"server.colour": "red"}, "server.colour", "unknown setting"),
        ({"server.ice_servers": [{"urls": "http://stun.example"}]}, "server.ice_servers[0].urls", "stun:"),
        ({"local.beam_size": 0}, "local.beam_size", "at least 1"),
        ({"glossary": {"terms": {"xx": {"a": "b"}}}}, "glossary.terms.xx", "not a language offered here"),
        ({"glossary": {"terms": {"it": {"a": "b"}}}}, "glossary.terms.it", "not a language offered here"),
        ({"glossary": {"terms": {"es": {"keynote": " "}}}}, "glossary.terms.es.keynote", "not be empty"),
        ({"glossary": {"keep": ["ok", "two\nlines"]}}, "glossary.keep[1]", "on one line"),
        ({"glossary": {"keep": "Contoso"}}, "glossary.keep", "Expected `array`"),
        ({"glossary": {"words": []}}, "glossary.words", "unknown setting"),
        ({"glossary": {"priority": ["nobody"]}}, "glossary.priority[0]", "not a term or name"),
        ({"editors": {"de": "a-key-long-enough-1"}}, "editors.de", "not a language offered here (es, fr)"),
        ({"editors": {"es": "short"}}, "editors.es", "at least 16 characters"),
        ({"prices": {"translate_per_minute": -1}}, "prices.translate_per_minute", "not negative"),
        ({"prices": {"voicelive_pro": {"text_in": 1}}}, "prices.voicelive_pro", "missing required field"),
    ],
)
def test_bad_values_name_their_field(overrides: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(env={}, overrides=overrides)
    assert error.value.field == field
    assert words in str(error.value)


def test_a_bad_config_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match="broken.toml is not valid TOML"):
        load_settings(str(broken), env={})
    with pytest.raises(ConfigError, match="no such file: .*missing.toml"):
        load_settings(str(tmp_path / "missing.toml"), env={})


def test_a_listener_process_is_given_no_secret() -> None:
    from translator.server.workers import worker_settings

    env = {
        "AZURE_VOICELIVE_ENDPOINT": "https://example.services.ai.azure.com/",
        "AZURE_VOICELIVE_API_KEY": "voicelive-secret-1",
        "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com/",
        "AZURE_OPENAI_API_KEY": "openai-secret-2",
    }
    for extra in ({}, {"rooms": [{"id": "hall"}, {"id": "attic"}]}):
        settings = load_settings(env=env, overrides={"broker.url": "redis://127.0.0.1:6379", **extra})
        encoded = msgspec.json.encode(worker_settings(settings)).decode()
        assert "secret" not in encoded
        assert "secret" not in repr(settings.translate) + repr(settings.azure)
