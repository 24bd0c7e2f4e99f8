"""Azure AI Voice Live: the engine, its sessions and connections, and the turn bookkeeping."""

from translator.engines.voicelive.configure import session_config
from translator.engines.voicelive.engine import VoiceLiveEngine
from translator.engines.voicelive.session import ROLLOVER_LEAD_S

__all__ = ["ROLLOVER_LEAD_S", "VoiceLiveEngine", "session_config"]
