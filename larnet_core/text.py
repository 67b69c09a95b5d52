"""Names from users (file names, session names, manifest cells) made safe to show and to store.

Unicode's bidirectional controls reorder the text around them when it is displayed: ``invoice\u202egpj.exe``
shows as ``invoiceexe.jpg``. A name never needs them, so they are removed wherever a name is shown or stored
(the clip's name in a result, a session's name and input name, a batch's sources, the CLI's messages).
"""

from __future__ import annotations

import re

__all__ = ["BIDI_CONTROLS", "strip_bidi"]

#: Left-to-right/right-to-left marks (U+200E, U+200F), embeddings and overrides (U+202A-U+202E) and isolates
#: (U+2066-U+2069), plus the Arabic letter mark (U+061C), which acts like them.
BIDI_CONTROLS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def strip_bidi(text: str) -> str:
    """``text`` without bidirectional control characters (see :data:`BIDI_CONTROLS`)."""
    return _BIDI.sub("", text)
