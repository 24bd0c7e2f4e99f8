"""Live speech translation: one speaker, many languages, audio and captions to every listener."""

import os

# Before numpy loads (it reads this once): OpenBLAS keeps no thread pool of its own. Several rooms'
# recognition threads enter numpy at once, and a pool shared by concurrent callers, or one caught by
# a fork mid-product, wedged the offline engine for good (offline-engine.md). Our matrix products are
# small; the heavy models (CTranslate2, onnxruntime) size their own threads from the settings.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

__version__ = "0.1.0"
