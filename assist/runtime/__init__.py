"""The runtime around the core: threads, queues, files and models.

The call runner (one thread per call, bounded queues, sinks), the ASR workers, the WAV source,
the call store (SQLite on its own writer thread), model discovery and fetch, config, rule-pack
files and the post-call report. It never imports `overlay` or `sip`: those adapters and the
commands compose it.
"""
