"""Showing user text (session names, notes, input names, model cards, error messages that quote them) as plain
text in Streamlit elements that render Markdown, and error messages without the server's paths.

Streamlit's Markdown turns ``![x](https://host/pixel.png)`` into an image the viewer's browser fetches (a
tracking pixel), ``[x](url)``, bare ``https://...`` and ``www...`` into links, and ``:red[...]``, ``$...$`` into
styling. ASCII punctuation is escaped with a backslash (CommonMark allows escaping any of it), which leaves
none of those constructs, nor raw HTML, to be recognised; bare addresses, which GitHub-flavoured Markdown links
after parsing, get an invisible word joiner (U+2060). The text reads exactly as typed.

Error messages are written for the operator's terminal and name files by their full path (the upload cache, the
batches folder, the database); :func:`plain_error` shows a visitor only the file's name, and no database URL.
"""

from __future__ import annotations

import re
import string

__all__ = ["plain", "plain_block", "plain_error", "without_paths"]

# Every ASCII punctuation character but the full stop, which starts nothing by itself: file names stay readable.
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation.replace(".", "")) + "])")
# Where a full stop does matter: "1." at the start of a line starts an ordered list.
_DOT = re.compile(r"^(\s*\d+)\.")
# GitHub-flavoured Markdown turns bare "https://...", "www...." and "a@b.c" into links after parsing, whatever
# their escapes; an invisible word joiner inside each breaks the pattern and leaves the text as it reads.
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=/)|(?<=@)|(?<=\bwww)(?=\.)")
_JOINER = "\u2060"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A database URL (sqlite:///..., postgresql+psycopg://user@host/db).
_DATABASE_URL = re.compile(r"\b(?:sqlite|postgres(?:ql)?|mysql|oracle|mssql)(?:\+\w+)?://[^\s'\"`]*", re.IGNORECASE)
# An absolute path (POSIX, home-relative or Windows) not inside a word or a URL: its folders, then its last name.
_PATH = re.compile(r"(?<![\w.:/\\~-])(?:~?/|[A-Za-z]:[\\/])(?=[^\s'\"`/\\])((?:[^\s'\"`/\\]+[/\\])*)([^\s'\"`/\\]*)")


def _escape(line: str) -> str:
    return _DOT.sub(lambda m: f"{m.group(1)}\\.", _PUNCTUATION.sub(r"\\\1", _AUTOLINK.sub(_JOINER, line)))


def plain(text: object) -> str:
    """``text`` escaped for inline use in Markdown (one line; line breaks become spaces)."""
    return _escape(_CONTROL.sub(" ", str(text)).replace("\r", " ").replace("\n", " "))


def plain_block(text: object) -> str:
    """``text`` escaped for Markdown, keeping its line breaks (as hard breaks) and leading indentation."""
    lines = _CONTROL.sub(" ", str(text)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    escaped = []
    for line in lines:
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)].replace("\t", "    ")
        # Leading spaces would start an indented code block; non-breaking spaces keep the indentation visible.
        escaped.append("\u00a0" * len(indent) + _escape(stripped))
    return "  \n".join(escaped)


def without_paths(text: object) -> str:
    """``text`` with every absolute path cut to its last name (``/srv/data/uploads/ab12.pt`` -> ``ab12.pt``) and
    database URLs left out: what a visitor may read of a server's message."""
    text = re.sub(r"  +", " ", _DATABASE_URL.sub("", str(text)))
    return _PATH.sub(lambda m: m.group(2), text)


def plain_error(error: object) -> str:
    """An error message for a visitor: without server paths (:func:`without_paths`), escaped (:func:`plain`)."""
    return plain(without_paths(error))
