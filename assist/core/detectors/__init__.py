"""Detector mechanisms; importing this package registers every detector with the rule engine.

One module per family: `timing` (silence, turn-taking), `voice` (prosody) and `words`
(transcript cues). Thresholds never live here: they come from the rule pack's params.
"""

from assist.core.detectors import timing, voice, words  # noqa: F401
