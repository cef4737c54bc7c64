"""Faithfulness of the baselines (GMMLossDetector, SmallLossDetector, LabelMatchDetector)
to the methods they implement (``reference/methods.md``, the reference code it cites)
and to their own docstrings, user-guide pages and the glossary.

Each test here states one claim and fails today because the code does something else.
"""

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from skclip_noise import GMMLossDetector, SmallLossDetector
from skclip_noise.detectors import _loss_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dividemix_clean_mask(epoch_losses, random_state, threshold=0.5):
    """DivideMix's ``eval_train`` at very high noise: each epoch's losses min-max
    normalised, appended to ``all_loss``, then ``history[-k:].mean(0)`` fed to the GMM."""
    normalised = [(loss - loss.min()) / (loss.max() - loss.min()) for loss in epoch_losses]
    input_loss = np.mean(normalised, axis=0)[:, None]
    gmm = GaussianMixture(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4, random_state=random_state)
    gmm.fit(input_loss)
    return gmm.predict_proba(input_loss)[:, gmm.means_.argmin()] > threshold


def test_gmm_average_last_averages_per_epoch_normalised_losses_like_dividemix(monkeypatch):
    """Claim (methods.md, GMM baseline; ``average_last`` docstring): "losses min-max
    normalised ... DivideMix averages the loss over the last 5 epochs at very high noise"
    (``average_last``: "DivideMix uses 5 at very high noise"). DivideMix's ``eval_train``
    min-max normalises *each epoch's* losses before appending them to ``all_loss`` and
    fits the GMM on ``history[-5:].mean(0)``, so every epoch weighs the same.

    The code (``_loss_model._average`` then ``LossMixture``) averages the *raw* losses of
    the last epochs and normalises the average once: one epoch with a large loss scale
    dominates. Here epoch 1 has one exploding loss (50) and epoch 2 is ordinary; DivideMix
    flags the 8 high-loss samples and the outlier, the library flags only the outlier.
    (The per-epoch outputs of the loss model are replaced by crafted losses.)
    """
    n_clean, n_noisy = 12, 8
    n = n_clean + n_noisy + 1
    jitter = np.linspace(0.0, 0.02, n)
    epoch_losses = [
        np.r_[np.full(n_clean, 0.1), np.full(n_noisy, 1.0), 50.0] + jitter,
        np.r_[np.full(n_clean, 0.1), np.full(n_noisy, 1.0), 1.0] + jitter,
    ]
    calls = []

    def crafted_outputs(self, net, inputs, codes, indices, device):
        loss = epoch_losses[len(calls)][indices]
        calls.append(len(calls))
        return _loss_model.PairOutputs(loss, np.exp(-loss), codes[indices], np.exp(-loss))

    monkeypatch.setattr(_loss_model.LossModelMixin, "_pair_outputs", crafted_outputs)
    X = np.random.default_rng(0).normal(size=(n, 3))
    y = np.arange(n) % 2
    detector = GMMLossDetector(epochs=2, average_last=2, device="cpu", random_state=0).fit(X, y)
    assert len(calls) == 2  # both epochs were read
    expected = _dividemix_clean_mask(epoch_losses, detector._fit_seed % (2**31))
    assert expected.tolist() == [True] * n_clean + [False] * (n_noisy + 1)
    assert detector.clean_mask_.tolist() == expected.tolist(), (
        f"library flags {np.flatnonzero(~detector.clean_mask_).tolist()}, "
        f"DivideMix's per-epoch normalisation flags {np.flatnonzero(~expected).tolist()}"
    )


def _kept_per_epoch(monkeypatch, **params):
    """Fit SmallLossDetector on 40 feature rows in one batch per epoch and return how many
    samples contributed to each epoch's loss (``topk`` calls of the Co-teaching step)."""
    n = 40
    kept = []
    topk = torch.topk

    def recording_topk(values, k, *args, **kwargs):
        if values.ndim == 1 and values.shape[0] == n and kwargs.get("largest", True) is False:
            kept.append(int(k))
        return topk(values, k, *args, **kwargs)

    monkeypatch.setattr(torch, "topk", recording_topk)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    y = np.arange(n) % 2
    SmallLossDetector(schedule="coteaching", batch_size=n, device="cpu", random_state=0, **params).fit(X, y)
    return kept


def test_coteaching_ramp_reaches_forget_rate_at_last_warmup_epoch(monkeypatch):
    """Claim (SmallLossDetector docstring and small_loss.rst): with
    ``schedule="coteaching"``, ``r(e)`` is "ramped linearly from 0 to forget_rate over
    warmup_epochs", ``warmup_epochs`` being "Co-teaching's ``num_gradual``", and
    small_loss.rst's Differences section says it trains one network "with the same linear
    ramp" as Co-teaching. Co-teaching's
    schedule is ``rate_schedule[:num_gradual] = np.linspace(0, forget_rate, num_gradual)``:
    the rate is 0 in the first epoch and reaches ``forget_rate`` in epoch
    ``num_gradual - 1`` (0-based), the last of the warm-up.

    The code (``SmallLossDetector._batch_keep_ratio``) uses
    ``r(e) = forget_rate * min(e / warmup_epochs, 1)``: the ramp has steps of
    ``forget_rate / warmup_epochs`` instead of ``forget_rate / (warmup_epochs - 1)`` and
    reaches ``forget_rate`` one epoch after the warm-up. With forget_rate=0.5,
    warmup_epochs=3 and 40 samples per batch, Co-teaching keeps 40, 30, 20 samples in
    epochs 0, 1, 2; the library keeps 40, 33, 27.
    """
    forget_rate, warmup = 0.5, 3
    kept = _kept_per_epoch(monkeypatch, forget_rate=forget_rate, warmup_epochs=warmup, epochs=warmup)
    schedule = np.linspace(0.0, forget_rate, warmup)  # Co-teaching's rate_schedule[:num_gradual]
    expected = [int(round((1 - rate) * 40)) for rate in schedule if rate > 0]
    assert expected == [30, 20]
    assert kept == expected


@pytest.mark.parametrize("warmup_epochs,epochs,expected", [
    (0, 3, [20, 20, 20]),  # Co-teaching with num_gradual=0: the full rate from the first epoch
    (None, 3, [20, 20]),  # half of 3 epochs, rounded up: linspace(0, 0.5, 2)
    (None, 24, [40 - round(40 * 0.5 * e / 9) for e in range(1, 10)] + [20] * 14),  # Co-teaching's 10
])
def test_coteaching_ramp_of_zero_and_none(monkeypatch, warmup_epochs, epochs, expected):
    """``warmup_epochs=0`` drops ``forget_rate`` in every epoch; None ramps over
    Co-teaching's 10 epochs, or over half of ``epochs`` in shorter runs (rounded up)."""
    kept = _kept_per_epoch(monkeypatch, forget_rate=0.5, warmup_epochs=warmup_epochs, epochs=epochs)
    assert kept == expected


def test_small_loss_warmup_epochs_beyond_epochs_is_refused():
    """Claim (docs/glossary.rst): ``warmup_epochs`` are "epochs at the start ... (part of
    ``epochs``)", one meaning in every estimator; DualPromptDetector and AVLPrompter refuse
    ``warmup_epochs > epochs`` before any work, and SmallLossDetector's docstring promises
    a ramp "from 0 to forget_rate over warmup_epochs".

    The code (``SmallLossDetector._check_params``) accepts ``warmup_epochs`` larger than
    ``epochs`` with ``schedule="coteaching"``: the ramp is cut off, the loss model never
    trains at the ``forget_rate`` the caller gave (here at most 0.2 * 3 / 10 = 0.06), and
    nothing says so.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = np.arange(20) % 2
    detector = SmallLossDetector(forget_rate=0.2, schedule="coteaching", warmup_epochs=10, epochs=4,
                                 device="cpu", random_state=0)
    with pytest.raises(ValueError, match="warmup_epochs"):
        detector.fit(X, y)
