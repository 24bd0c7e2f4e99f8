"""The languages gpt-realtime-translate speaks (of the service's): its catalog lists 13 outputs,
Indonesian and Vietnamese being the two the service does not offer."""

OUTPUT_LANGUAGES = frozenset(("es", "pt", "fr", "it", "de", "ja", "zh", "ko", "hi", "ru", "en"))
