"""One room's talk: its input, engine, pipeline, hub channels, transcript and controls.

``room.py``: the room as an object (start, stop, the operator's controls, its state);
``pipeline.py``: the engine's events turned into captions and audio chunks for the hub;
``state.py``: the room's state as Structs, for the API and for other processes; ``remote.py``: a
room whose pipeline runs in another process, as a listener-only process sees it.
"""
