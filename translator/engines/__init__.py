"""Engines: the contract (``base.py``), the normalized events (``events.py``), the table that names
them (``table.py``), and the implementations (``voicelive/``, ``local/``). Importing this package
loads none of them."""
