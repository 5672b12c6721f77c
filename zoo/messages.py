"""Shaping long error messages: key lists grouped and capped, text cut only between words."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

KEYS_INLINE = 12  # up to this many keys are listed in full, on one line
GROUPS_SHOWN = 8
KEYS_PER_GROUP = 3
LINES_SHOWN = 10


def shorten(text: str, width: int = 300, placeholder: str = " ...") -> str:
    """``text`` cut to at most ``width`` characters at a space, never inside a word."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width - len(placeholder) + 1)
    return (text[:cut] if cut > 0 else text.split(" ", 1)[0]) + placeholder


def tail(text: str, width: int = 800, placeholder: str = "... ") -> str:
    """The end of ``text`` (a log's last lines), at most ``width`` characters, starting at a word."""
    if len(text) <= width:
        return text
    start = len(text) - width + len(placeholder)
    space = min((i for i in (text.find(" ", start), text.find("\n", start)) if i >= 0), default=-1)
    return placeholder + (text[space + 1:] if space >= 0 else text.rsplit(None, 1)[-1])


def _prefix(key: str, depth: int) -> str:
    return ".".join(key.split(".")[:depth])


def key_list(keys: Iterable[str]) -> str:
    """Up to KEYS_INLINE keys as a comma-separated list; more grouped by prefix, a few of each shown.

    ``missing keys (122): ...`` on one line helps nobody: a long list becomes one line per
    prefix (``features.* (116): features.0.bias, features.0.weight, features.1.bias and 113
    more``), at most GROUPS_SHOWN of them, with what is left counted.
    """
    keys = list(keys)
    if len(keys) <= KEYS_INLINE:
        return ", ".join(keys)
    depth = 1
    while depth < 3 and len({_prefix(k, depth) for k in keys}) == 1:
        depth += 1  # one common top-level prefix says nothing: split one level deeper
    groups: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        groups[_prefix(key, depth)].append(key)
    lines = ["grouped by prefix"]
    for prefix, members in list(groups.items())[:GROUPS_SHOWN]:
        shown = ", ".join(members[:KEYS_PER_GROUP])
        more = f" and {len(members) - KEYS_PER_GROUP} more" if len(members) > KEYS_PER_GROUP else ""
        name = f"{prefix}.*" if prefix != members[0] else prefix
        lines.append(f"    {name} ({len(members)}): {shown}{more}")
    if len(groups) > GROUPS_SHOWN:
        rest = sum(len(m) for m in list(groups.values())[GROUPS_SHOWN:])
        lines.append(f"    ... {len(groups) - GROUPS_SHOWN} more prefixes with {rest} keys")
    return "\n".join(lines)


def capped_lines(lines: list[str], what: str) -> list[str]:
    """The first LINES_SHOWN of ``lines``, and a count of the rest."""
    if len(lines) <= LINES_SHOWN:
        return lines
    return lines[:LINES_SHOWN] + [f"  ... and {len(lines) - LINES_SHOWN} more {what}"]


def state_mismatch(context: str, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                   mis_shaped: Iterable[tuple[str, Iterable[int], Iterable[int]]] = ()) -> str:
    """The message for a state dict that does not fit its model: every kind of offending key,
    long lists grouped (``key_list``), mis-shaped keys as (key, checkpoint shape, model shape)."""
    missing, unexpected = list(missing), list(unexpected)
    lines = [f"{context}: the state dict does not fit the model"]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {key_list(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {key_list(unexpected)}")
    lines += capped_lines([f"  mis-shaped: {key}: checkpoint {list(got)} vs model {list(want)}"
                           for key, got, want in mis_shaped], "mis-shaped keys")
    return "\n".join(lines)
