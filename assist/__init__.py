"""softphone-assist: real-time coaching for call-centre agents.

`assist/` holds the sans-I/O analysis core (frames in, events out) and the thin runtime that
drives it; `sip/` and `overlay/` are adapters around it.
"""

__version__ = "0.1.0"
