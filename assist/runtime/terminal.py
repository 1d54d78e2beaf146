"""What a call says on the terminal while it runs: one line per prompt as it fires.

Used only when stderr is a terminal (a script reading stderr gets the same lines as before).
The line is the prompt's audio time, its rule and its text, so a newcomer running `assist demo`
sees the assistant working without opening a page. `next_step` is the closing line.
"""

from __future__ import annotations

import shlex
from typing import TextIO

from assist.core.events import Event, Prompt


class TerminalSink:
    """A runtime Sink printing each prompt as `  0:12  rule  text` (`[call]` first if asked)."""

    def __init__(self, out: TextIO, *, show_call: bool = False) -> None:
        self.out = out
        self.show_call = show_call

    def send(self, event: Event) -> None:
        if not isinstance(event.data, Prompt):
            return
        d = event.data
        m, s = divmod(int(max(event.t, 0.0)), 60)
        call = f"[{event.call_id}] " if self.show_call else ""
        print(f"  {call}{m}:{s:02d}  {d.rule}  {d.text}", file=self.out, flush=True)

    def close(self) -> None:
        pass


def next_step(call_id: str, store: str | None = None) -> str:
    """The closing line: the command that makes this call's report."""
    where = f" --store {shlex.quote(store)}" if store else ""
    return f"Next: assist report {shlex.quote(call_id)}{where}"
