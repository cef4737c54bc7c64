"""Reproducibility and determinism: what ``random_state`` promises, and the global random
streams that fitting and predicting must leave alone.

Each test here pins one defect: it fails on the code as it stands and passes once the
promise it quotes holds.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from conftest import TINY_CLIP, cat_dog_labels, random_images
from skclip_noise import DeftClassifier, DualPromptDetector, GMMLossDetector, TurnClassifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _digit_features(n=120):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


# ------------------------------------------------------------- global RNGs never touched


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: TurnClassifier(**TINY_CLIP, tuning="frozen", lp_epochs=1, ft_epochs=1, ft_batch_size=8),
                     id="TurnClassifier-frozen"),
        pytest.param(lambda: DeftClassifier("passthrough", **TINY_CLIP, tuning="frozen", epochs=1, batch_size=8),
                     id="DeftClassifier-frozen"),
    ],
)
def test_frozen_head_prediction_leaves_torch_global_rng_alone(make):
    """docs/glossary.rst:111-113 (random_state): "global random number generators are never
    touched"; skclip_noise/classifiers/turn.py:153: "Global RNGs are never touched."

    With ``tuning="frozen"`` the first ``predict_proba`` after ``fit`` rebuilds the linear
    head with ``StandardizedLinear.empty`` (skclip_noise/classifiers/_fitted_net.py:29), a
    fresh ``nn.Linear`` whose default initialisation draws from torch's global generator,
    outside any ``fork_rng`` (the tower branch below it, and the loss detectors'
    ``_restore_model`` in detectors/_loss_model.py:329-331, fork it). So predicting advances the
    caller's torch random stream: a script's later ``torch.rand`` differs depending on
    whether a classifier predicted in between.
    """
    X, y = random_images(16), cat_dog_labels(16)
    clf = make().fit(X, y)
    before = torch.get_rng_state().clone()
    clf.predict_proba(X)
    assert torch.equal(torch.get_rng_state(), before), (
        "predict_proba of a tuning='frozen' classifier drew from torch's global RNG")


@pytest.mark.parametrize(
    "fit",
    [
        pytest.param(lambda: GMMLossDetector(device="cpu", epochs=1, random_state=0).fit(*_digit_features()),
                     id="GMMLossDetector-on-features"),
        pytest.param(lambda: DualPromptDetector(**TINY_CLIP, tuning="frozen", epochs=1, batch_size=8)
                     .fit(random_images(16), cat_dog_labels(16)), id="DualPromptDetector-frozen"),
    ],
)
def test_fit_does_not_reseed_the_accelerator_rngs(fit, monkeypatch):
    """docs/glossary.rst:111-113: "global random number generators are never touched";
    docs/DESIGN.md:35-36 (the shared training loop): "seeding from random_state without
    touching global RNG state". skclip_noise/backbones/loading.py:231-232 states the rule
    for the same situation: "Not torch.manual_seed: it also reseeds every CUDA device,
    outside the fork" (pinned for loading by tests/test_backbones.py:214).

    Fitting breaks it: ``Trainer.fit`` seeds through ``seeded_torch``
    (skclip_noise/training/device.py:129-130), and the estimators seed their model's
    initialisation (e.g. detectors/_loss_model.py:242-243, detectors/dual_prompt.py:359-360),
    with ``torch.manual_seed(seed)`` inside a ``torch.random.fork_rng`` that saves and
    restores only the CPU generator (``devices=[]``; ``seeded_torch`` adds the fit's own
    CUDA device when it trains on one). ``torch.manual_seed`` also calls
    ``torch.cuda.manual_seed_all(seed)``, so on a machine with a GPU every fit, even one on
    ``device="cpu"``, resets the caller's CUDA generators to the fit's seed and leaves them
    there. Recorded here as the project's own loading test records it (this machine has no
    GPU); seeding ``torch.default_generator`` inside the fork, as ``load_backbone`` does,
    makes it pass.
    """
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(("manual_seed_all", seed)))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(("manual_seed", seed)))
    fit()
    assert calls == [], f"fitting reseeded the CUDA generators (the caller's RNG): {calls[:3]}"


# ------------------------------------------------------------- command line = Python API


def test_detect_with_a_group_column_matches_the_python_api(tmp_path):
    """docs/glossary.rst:150-155 (groups): "Ids of samples that are not independent ... a fit
    parameter of ConsensusDetector ... on the command line, the input CSV's ``group``
    column"; docs/user_guide/consensus.rst:210: "On the command line, the same ids go in an
    optional ``group`` column of the input CSV". So ``skclip-noise detect labels.csv
    --random-state 0`` and ``ConsensusDetector(random_state=0).fit(paths, labels,
    groups=<that column>)`` with the same settings should give the same verdicts.

    They do not, because the verdicts depend on how the group ids sort, not only on which
    samples share a group: ``grouped_folds`` (skclip_noise/detectors/_duplicates.py:95,
    113-116) deals the groups to the probe's folds in the sorted order of their ids, while
    ``detect`` renumbers the column by first appearance (``pd.factorize``,
    skclip_noise/_cli_inputs.py:63). With group names that do not appear in sorted order
    the two runs put other groups in each fold and disagree on label quality and on
    which labels are issues (the same comparison without a group column agrees exactly).
    """
    from skclip_noise import ConsensusDetector, cli, make_noisy_labels
    from skclip_noise.datasets import load_digits_images, load_image_folder, make_image_folder

    images, digits = load_digits_images()
    paths, labels = load_image_folder(make_image_folder(images[:60], digits[:60], tmp_path / "images"))
    noisy, _ = make_noisy_labels(labels, "symmetric", 0.2, random_state=0)
    names = np.array([f"g{v:02d}" for v in np.random.default_rng(0).permutation(30)])
    groups = names[np.arange(60) // 2]  # pairs of images, named out of sorted order
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"path": paths, "label": noisy, "group": groups}).to_csv(csv, index=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        status = cli.main(["detect", str(csv), "--output-dir", str(tmp_path / "out"), "--backbone", "open_clip:skclip-tiny",
                           "--pretrained", "none", "--n-neighbors", "2", "--cv", "3", "--random-state", "0",
                           "--quiet"])
    assert status == 0
    from_cli = pd.read_csv(tmp_path / "out" / "label_issues.csv").sort_values("sample")

    table = pd.read_csv(csv, dtype=str)
    detector = ConsensusDetector(backbone="open_clip:skclip-tiny", pretrained=None, n_neighbors=2, cv=3,
                                 random_state=0)
    with warnings.catch_warnings():  # the tiny random backbone's warnings, which detect prints too
        warnings.simplefilter("ignore", UserWarning)
        detector.fit(table["path"].to_numpy(), table["label"].to_numpy(), groups=table["group"].to_numpy())
    np.testing.assert_array_equal(from_cli["is_label_issue"].to_numpy(), detector.label_issues_["is_label_issue"].to_numpy())
    np.testing.assert_allclose(from_cli["label_quality"].to_numpy(), detector.label_issues_["label_quality"].to_numpy(),
                               rtol=1e-12, atol=0)


def test_progress_bars_do_not_change_the_fit():
    """``verbose`` shows progress and nothing else: tqdm.auto's bar, wrapped around a loader,
    called ``iter()`` on it, which drew from the epoch loader's seeded generator, so a fit
    with ``verbose=1`` gave another model than the same fit with ``verbose=0``."""
    import io
    from contextlib import redirect_stderr

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-1, 1, (40, 6)), rng.normal(1, 1, (40, 6))].astype(np.float32)
    y = np.repeat([0, 1], 40)
    quiet = GMMLossDetector(epochs=2, device="cpu", random_state=0).fit(X, y)
    with redirect_stderr(io.StringIO()):
        shown = GMMLossDetector(epochs=2, device="cpu", random_state=0, verbose=1).fit(X, y)
    np.testing.assert_array_equal(quiet.loss_, shown.loss_)
