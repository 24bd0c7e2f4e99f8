"""What a room's talk becomes beyond its live listeners: the programme every output plays from
(``playout.py``), HLS for streams and CDNs (``hls.py``), recordings per language
(``recording.py``) and the take-home bundle (``bundle.py``)."""
