"""Azure OpenAI gpt-realtime-translate: the dedicated interpreter model."""
