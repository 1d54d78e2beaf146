"""Write the phone-like test calls (8 kHz G.711 mu-law stereo, -50 dBFS line noise).

    python tests/data/make_phone_calls.py [FOLDER]      # default: tests/data/phone/

Each call stages one or two cues with known thresholds (tests/phone.py: PHONE_CALLS); the
tests make them afresh in a temp folder, so nothing generated is committed. Play one with
`assist demo FOLDER/agitation.wav`.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from phone import write_phone_calls  # noqa: E402

if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else TESTS / "data" / "phone"
    for path in write_phone_calls(folder):
        print(path)
