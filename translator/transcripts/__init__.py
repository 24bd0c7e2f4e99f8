"""Transcripts: every final caption of a talk kept on disk, and exported as SRT, WebVTT or text."""
