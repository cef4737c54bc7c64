"""Names chosen by strangers (file, folder and class names), as a person is shown them:
characters that would act instead of showing (a terminal's escape sequences, a carriage
return, Unicode's direction controls that make ``"\\u202etac"`` read as "cat") are shown
as their escapes."""

from __future__ import annotations

import re

__all__ = ["HIDDEN_CHARACTERS", "with_controls_shown"]

#: Control characters (tab and newline aside) and the direction marks, embeddings,
#: overrides and isolates of Unicode's bidirectional algorithm ("Trojan Source").
HIDDEN_CHARACTERS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_HIDDEN = re.compile(f"[{HIDDEN_CHARACTERS}]")


def _escape(match):
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def with_controls_shown(text):
    """``text`` with its hidden characters written as escapes (``\\x1b``, ``\\u202e``).

    Examples
    --------
    >>> print(with_controls_shown("\\u202etac"), with_controls_shown("x\\x1b[2J.png"))
    \\u202etac x\\x1b[2J.png
    """
    return _HIDDEN.sub(_escape, text)
