"""Look at what a detector found: plots of its scores and an HTML gallery.

- :func:`plot_clean_proba` -- the distribution of the clean probability, one row
  per class, split into truly clean and truly noisy samples when the ground truth
  is known.
- :func:`plot_selection_precision_recall` -- precision and recall of the clean
  selection as the threshold on the clean probability moves, with its numbers
  from :func:`selection_precision_recall_curve`.
- :func:`detection_summary_figure` -- both plots side by side.
- :func:`plot_noise_transition` -- a heat map of the estimated noise transition
  matrix ``P(given label | true class)``.
- :func:`label_issues_html` -- a self-contained HTML page (one file, thumbnails
  embedded, nothing fetched) of the suspected label errors, worst first, for a
  person to review and decide on (an inline script; ``review=False`` writes the page
  without any script). Shown in a notebook (``IPython.display.HTML(page)``), each
  report keeps to its own output: its own decisions, styles and keys.

Every function takes either the arrays (``clean_proba``, labels, ...) or a fitted
detector, from which it reads ``clean_proba_``, ``clean_mask_``, ``classes_``,
``label_issues_`` and ``noise_transition_``. The plots use matplotlib's
object-oriented API, never call ``plt.show()`` and work with the non-interactive
Agg backend.

The modules: :mod:`~skclip_noise.report.plots` (the figures) and
:mod:`~skclip_noise.report.html` (the review page).
"""

from .html import label_issues_html
from .plots import (
    detection_summary_figure,
    plot_clean_proba,
    plot_noise_transition,
    plot_selection_precision_recall,
    selection_precision_recall_curve,
)

__all__ = [
    "detection_summary_figure",
    "label_issues_html",
    "plot_clean_proba",
    "plot_noise_transition",
    "plot_selection_precision_recall",
    "selection_precision_recall_curve",
]
