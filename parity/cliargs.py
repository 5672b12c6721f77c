"""What the compare, dump and diff sub-commands share: parsing into an exit code, and the JSON document write."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code argparse chose (2 after a usage message, 0 after --help),
    so that ``main(argv)`` returns instead of raising SystemExit."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def write_doc(path: str, doc: dict[str, Any]) -> bool:
    """Write ``doc`` as JSON atomically and say so; False (with a one-line error) if it cannot be written."""
    from parity.report import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(doc, indent=1, default=float))
    except OSError as exc:
        print(f"error: cannot write {path}: {exc}", file=sys.stderr)
        return False
    print(f"wrote {path}")
    return True
