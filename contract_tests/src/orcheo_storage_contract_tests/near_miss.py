"""Near-miss keys: lookups that must not find what an exact key finds.

A store that matches a prefix, folds case or width, normalises Unicode or compares only
the first few characters finds the entity anyway. The state machines look every key up
together with these variants and ask the model what each variant must find (for keys
the domain normalises, such as handles, the model applies the domain's rule, so a case
variant that must resolve is expected to resolve).
"""

from __future__ import annotations

import unicodedata

LONG_PREFIX = "shared-prefix-16"
"""Sixteen characters the suite's generated keys share, so that keys differing only
after the 16th character exist on purpose."""
assert len(LONG_PREFIX) == 16

_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}


def fullwidth(text: str) -> str:
    """``text`` with ASCII letters, digits and punctuation in their fullwidth forms."""
    return "".join(_FULLWIDTH.get(c, c) for c in text)


def _flip(char: str) -> str:
    if char.isdigit():
        return str((int(char) + 1) % 10)
    return "b" if char == "a" else "a"


def near_misses(key: str) -> list[str]:
    """Keys that look like ``key`` but are not it: prefixes and extensions, case, width
    and Unicode normalisation variants, padding, and a change after the 16th character."""
    variants = [
        key[:-1],
        key[: len(key) // 2],
        key + (key[-1:] or "x"),
        key.upper(),
        key.lower(),
        key.swapcase(),
        key.casefold(),
        fullwidth(key),
        unicodedata.normalize("NFC", key),
        unicodedata.normalize("NFD", key),
        unicodedata.normalize("NFKC", key),
        f" {key}",
        f"{key} ",
        f"{key}%",
        f"{key[:-1]}_" if key else "_",
    ]
    if len(key) > 16:
        variants.append(key[:16] + _flip(key[16]) + key[17:])
        variants.append(key[:-1] + _flip(key[-1]))
    return [v for v in dict.fromkeys(variants) if v != key and v]


def lookups(keys: list[str]) -> list[str]:
    """``keys`` themselves followed by the near misses of each (no duplicates)."""
    out = list(keys)
    for key in keys:
        out.extend(near_misses(key))
    return list(dict.fromkeys(out))
