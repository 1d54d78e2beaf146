"""Speech recognition engines behind one interface (see `engine`).

`vosk_engine` (Vosk/Kaldi, any language with a model) and `sphinx_engine` (PocketSphinx's
bundled en-us, the English default when no Vosk model is present); `results` parses their
output; `pool` keeps recognisers for reuse. All synchronous: threads live in asr_worker.
"""

from assist.asr.engine import Engine, Hypothesis, Recognizer
from assist.asr.pool import RecognizerPool

__all__ = ["Engine", "Hypothesis", "Recognizer", "RecognizerPool"]
