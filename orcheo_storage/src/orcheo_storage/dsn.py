"""PostgreSQL connection strings: checked here before any driver sees them, and redacted.

libpq echoes the offending piece of a malformed DSN in its error messages (a bad percent
escape, an unescaped ``@`` or ``/`` in the password, a token without ``=``, an unknown
URI scheme read as a key=value string), and the driver and its pool pass those messages
on to exceptions and logs. :func:`check_dsn` follows libpq's own parsing rules closely
enough to refuse every such shape first, with a message that never quotes the DSN.
:func:`redact_dsn` and :func:`dsn_secrets` hide passwords in text that is shown.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from difflib import get_close_matches
from urllib.parse import unquote

URI_PREFIXES = ("postgresql://", "postgres://")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]{0,30}$")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})|%00")
_SECRET_KEYS = ("password", "sslpassword")
# A query password ends at the next "&" only: an unescaped "#" is not a boundary worth trusting.
_URL_PASSWORD_PARAM = re.compile(r"(?i)([?&][^=&#]*password=)[^&]*")
_KV_PASSWORD = re.compile(r"(?i)(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)")


class DsnError(ValueError):
    """A DSN libpq would misread or reject; the message never contains any part of it."""


def check_dsn(dsn: str, *, keywords: Collection[str] | None = None) -> None:
    """Refuse a DSN whose shape libpq would reject or misread.

    Args:
        dsn: a libpq URI (``postgresql://...``) or key=value connection string.
        keywords: the connection options the driver knows; unknown ones are refused
            when given (the core has no driver, backends pass libpq's list).

    Raises:
        DsnError: the DSN is malformed; the message says what to fix without quoting it.
    """
    if not dsn.strip():
        raise DsnError("is empty")
    if "\x00" in dsn:
        raise DsnError("contains a NUL character")
    if "://" in dsn.split("=", 1)[0] or dsn.startswith(URI_PREFIXES):
        _check_uri(dsn, keywords)
    else:
        _check_key_values(dsn, keywords)


def _check_uri(dsn: str, keywords: Collection[str] | None) -> None:
    prefix = next((p for p in URI_PREFIXES if dsn.startswith(p)), None)
    if prefix is None:
        scheme = dsn.split("://", 1)[0]
        shown = f" {scheme!r}" if _SCHEME.match(scheme) else ""
        raise DsnError(
            f"has an unsupported URI scheme{shown}: use postgresql:// (no driver suffix)"
        )
    if _PERCENT.search(dsn):
        raise DsnError(
            "has an invalid percent escape: write '%' as %25 and use two hex digits after "
            "each '%' (%00 is not allowed)"
        )
    rest = dsn[len(prefix) :]
    # libpq: the credentials are whatever precedes the first "@" that comes before any "/".
    end = len(rest)
    for index, char in enumerate(rest):
        if char in "@/":
            end = index
            break
    if end < len(rest) and rest[end] == "@":
        rest = rest[end + 1 :]
    netloc_end = _first(rest, "/?")
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    if "@" in netloc or "@" in tail.partition("?")[0]:
        raise DsnError(
            "has an unescaped '@' or '/' in the user name or password: percent-encode them "
            "(%40 and %2F)"
        )
    _check_hosts(netloc)
    if "?" in tail:
        _check_query(tail.partition("?")[2], keywords)


def _first(text: str, chars: str) -> int:
    positions = [i for i in (text.find(c) for c in chars) if i >= 0]
    return min(positions, default=len(text))


def _check_hosts(netloc: str) -> None:
    for entry in netloc.split(",") if netloc else []:
        port = ""
        if entry.startswith("["):
            address, bracket, after = entry[1:].partition("]")
            if not bracket or not address:
                raise DsnError("has an unterminated or empty IPv6 address in brackets")
            if after and not after.startswith(":"):
                raise DsnError("has unexpected text after an IPv6 address: expected ':port'")
            port = after[1:]
        elif ":" in entry:
            port = entry.partition(":")[2]
        if port and not port.isdigit():
            raise DsnError("has a port that is not a number")


def _check_query(query: str, keywords: Collection[str] | None) -> None:
    parameters = query.split("&")
    if parameters[-1] == "":  # libpq accepts an empty query and a trailing "&"
        parameters.pop()
    for position, parameter in enumerate(parameters, start=1):
        key, equals, value = parameter.partition("=")
        if not equals or not key:
            raise DsnError(f"query parameter {position} is not of the form key=value")
        if "=" in value:
            raise DsnError(f"query parameter {position} has a second '=': write it as %3D")
        name = unquote(key)
        if keywords is not None and name != "ssl" and name not in keywords:
            raise DsnError(
                f"query parameter {position} is not a connection option" + _hint(name, keywords)
            )


def _check_key_values(dsn: str, keywords: Collection[str] | None) -> None:
    """libpq's key=value grammar: ``key = value`` pairs, values quoted with '...' when needed."""
    position, index, length = 0, 0, len(dsn)
    while True:
        while index < length and dsn[index].isspace():
            index += 1
        if index >= length:
            return
        position += 1
        start = index
        while index < length and dsn[index] != "=" and not dsn[index].isspace():
            index += 1
        key = dsn[start:index]
        while index < length and dsn[index].isspace():
            index += 1
        if index >= length or dsn[index] != "=" or not key:
            raise DsnError(
                f"setting {position} is not of the form key=value (quote values holding "
                "spaces: password='...'; or use a postgresql:// URI)"
            )
        index += 1
        while index < length and dsn[index].isspace():
            index += 1
        if index < length and dsn[index] == "'":
            index = _skip_quoted(dsn, index + 1)
        else:
            while index < length and not dsn[index].isspace():
                index += 2 if dsn[index] == "\\" else 1
        if keywords is not None and key not in keywords:
            raise DsnError(f"setting {position} is not a connection option" + _hint(key, keywords))


def _skip_quoted(dsn: str, index: int) -> int:
    while index < len(dsn):
        if dsn[index] == "\\":
            index += 2
        elif dsn[index] == "'":
            return index + 1
        else:
            index += 1
    raise DsnError("has a quoted value without its closing quote")


def _hint(name: str, keywords: Collection[str]) -> str:
    # Only a known keyword is ever shown, never the text the user wrote (it may be a
    # fragment of a password that held a space).
    close = get_close_matches(name, list(keywords), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def redact_dsn(dsn: str) -> str:
    """Replace every password of a DSN (URL or key=value form) with ``***``.

    Errs on the side of hiding too much: a malformed URL (an unescaped ``#``, ``/`` or ``?``
    in the password) or a quoted key=value password never shows any part of the secret.
    """
    if "://" in dsn:
        scheme, _, rest = dsn.partition("://")
        # The credentials end at the last "@"; not using urlsplit, which stops the netloc at
        # the first "/", "?" or "#" and would leave the rest of such a password in the output.
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            prefix = f"{scheme}://{user}:***@" if colon else f"{scheme}://{user}@"
        else:
            prefix = f"{scheme}://"
        return prefix + _URL_PASSWORD_PARAM.sub(r"\1***", rest)
    return _KV_PASSWORD.sub(r"\1***", dsn)


def dsn_secrets(dsn: str) -> list[str]:
    """Every password-like value of a DSN, as written and decoded, longest first.

    What a scrubber replaces in text that came from a driver or a plugin.
    """
    found: list[str] = []
    if "://" in dsn:
        rest = dsn.partition("://")[2]
        if "@" in rest:
            userinfo = rest.rpartition("@")[0]
            found.append(userinfo.partition(":")[2])
            # libpq's reading: the password ends at the first "@"
            found.append(rest.partition("@")[0].partition(":")[2])
        found += re.findall(r"(?i)[?&][^=&#]*password=([^&]*)", rest)
    else:
        for value in _KV_PASSWORD.findall(dsn):
            raw = value[1]
            found += [raw, raw.strip("'"), re.sub(r"\\(.)", r"\1", raw.strip("'"))]
    decoded = [unquote(s) for s in found]
    return sorted({s for s in [*found, *decoded] if s}, key=len, reverse=True)


def scrub(text: str, dsn: str | None) -> str:
    """``text`` with ``dsn`` and each of its passwords replaced (``<dsn>``, ``***``)."""
    if not dsn:
        return text
    text = text.replace(dsn, "<dsn>")
    for secret in dsn_secrets(dsn):
        text = text.replace(secret, "***")
    return text
