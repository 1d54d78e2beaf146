"""The sans-I/O analysis core: 20 ms frames in, typed events out.

Synchronous and pure: no threads, event loops, sockets, files, SQLite, clock, pjsua2 or
websockets. Time is the sample count. `tests/test_layering.py` holds it to that.
"""
