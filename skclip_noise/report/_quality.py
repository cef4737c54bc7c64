"""How a card of the HTML report shows a label-quality score: its figure and its bar.

Detectors give the flagged samples tiny probabilities (1e-5, 1e-9, ...), so a
figure rounded to three decimals and a bar on a linear scale would show every
flagged card alike. The figure switches to scientific notation below 0.01 and
the bar is on a log scale, so the worse of two cards is the one with the shorter
bar and the smaller figure.
"""

from __future__ import annotations

import math

#: The bar is empty at ``10 ** -_BAR_DECADES`` (and below) and full at 1.
_BAR_DECADES = 12
#: Below this the figure is in scientific notation, with two significant digits.
_SCIENTIFIC_BELOW = 0.01


def _finite(score):
    return score is not None and math.isfinite(score)


def _quality_text(score):
    """The figure on the card: ``0.734``, ``0.012``, ``3.2e-05``, ``0``, ``n/a``."""
    if not _finite(score):
        return "n/a"
    if score <= 0:
        return "0"
    if score < _SCIENTIFIC_BELOW:
        return f"{score:.1e}"
    return f"{score:.3f}"


def _quality_title(score):
    """The tooltip: the score with more digits."""
    if not _finite(score):
        return "label quality not available"
    return f"label quality {score:.6g}"


def _quality_fraction(score):
    """Length of the bar in [0, 1]: log10 of the score, from 1e-12 (0) to 1 (1)."""
    if not _finite(score) or score <= 0:
        return 0.0
    fraction = 1.0 + math.log10(min(score, 1.0)) / _BAR_DECADES
    return min(max(fraction, 0.0), 1.0)


def _quality_width(score):
    """CSS width of the bar, e.g. ``"62.5%"``."""
    return f"{100 * _quality_fraction(score):.1f}%"


def _quality_colour(score):
    """Red (0) through amber to green (1) as an HSL colour, linear in the probability."""
    if not _finite(score):
        return "hsl(0, 0%, 60%)"
    return f"hsl({round(120 * min(max(score, 0.0), 1.0))}, 62%, 42%)"


#: One sentence for the page header on how to read the figure and the bar.
_QUALITY_LEGEND = (
    "The label quality is shown as a number (in scientific notation below 0.01, e.g. "
    "3.2e-05) and as a bar on a log scale: empty at 1e-12 or below, half at 1e-6, full at 1, "
    "so a shorter bar means a worse label."
)
