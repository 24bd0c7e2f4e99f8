"""Azure AI Voice Live: the engine, its sessions and connections, and the turn bookkeeping."""
