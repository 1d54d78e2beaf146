"""`assist schema`: print the JSON Schema of event schema v1."""

from __future__ import annotations

import argparse
import json
from typing import Any

from assist.core.events import json_schema


def register(sub: Any) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the event envelope (v1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0
