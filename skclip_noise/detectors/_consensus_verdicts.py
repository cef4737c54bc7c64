"""The verdicts of :class:`~skclip_noise.ConsensusDetector` from its evidence: Bayes'
rule through the transition estimate, images of no class, hard images (step 5) and the
disputed pairs that step would add."""

from __future__ import annotations

import numpy as np

from ..base import Scores
from ..selection import bayes_clean_posterior, fit_neighbour_outlier_model
from ._consensus_rules import rival_share

__all__ = ["ConsensusVerdicts"]


class ConsensusVerdicts:
    """Mixin: the decision half of ConsensusDetector (its ``threshold``, ``detect_outliers``,
    ``flag_disagreement``, and the fitted ``evidence_gain_`` and transition estimate)."""

    @property
    def _informative(self):
        """Whether the features carry evidence to judge a label by (``evidence_gain_``)."""
        return self.evidence_gain_ > 0

    def _fit_outliers(self, label_counts, codes, reference, n_classes):
        """P(outlier) of the training samples (None with ``detect_outliers=False`` or
        features without evidence), the class profiles taken around the ``reference``
        (so far clean) samples."""
        if not (self.detect_outliers and self._informative):
            self._outlier_model = None
            return None
        self._outlier_model, proba = fit_neighbour_outlier_model(label_counts, codes, n_classes, reference=reference)
        return proba

    def _decide(self, proba, codes, outlier=None, flag_disagreement=False):
        if not self._informative:  # no evidence against any label (see evidence_gain_)
            clean, flag_disagreement = np.ones(len(codes)), False
        else:
            clean = bayes_clean_posterior(codes, proba, self._transition)
        if outlier is not None:
            clean = clean * (1.0 - outlier)
        if flag_disagreement:
            clean = np.minimum(clean, rival_share(proba, codes))
        rows = np.arange(len(codes))
        return Scores(
            clean, clean > self.threshold, proba.argmax(axis=1),
            label_quality=proba[rows, codes], suggested_proba=proba.max(axis=1),
            noise_transition=self._transition, outlier_proba=outlier,
        )

    def _disputed_mask(self):
        """The training pairs ``flag_disagreement`` would add (see :func:`~skclip_noise.disputed_pairs`):
        kept, though the given label's share against its strongest rival class is at most
        ``threshold`` (at 0.5: another class is more probable)."""
        disputed = np.zeros(len(self.clean_mask_), dtype=bool)
        if self._informative and not self.flag_disagreement:
            judged = self.predicted_ >= 0  # unreadable image files are flagged already
            rival = rival_share(self.class_proba_, self._fit_codes)
            disputed[judged] = self.clean_mask_[judged] & (rival <= self.threshold)
        return disputed
