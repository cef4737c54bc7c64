"""Defects found reviewing the session's change 5ce2978..54a2691 (one test per defect; each failed on 54a2691)."""

import numpy as np
import pandas as pd
import pytest

from skclip_noise import ConsensusDetector
from skclip_noise._cli_inputs import read_detect_input


# --------------------------------------------------------------------------- #
# _cli_inputs._labels_as_written
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("label", ["12345678901234567890", "--5", "\u00b2"],
                         ids=["beyond-int64", "double-minus", "superscript-digit"])
def test_cli_labels_that_look_like_digits_do_not_crash_detect_input(tmp_path, label):
    # WRONG: _labels_as_written tests label.lstrip("-").isdigit() and then calls int(label)
    # and .astype(np.int64). A 20-digit id (a database key) overflows int64 (OverflowError,
    # which the CLI does not catch: a traceback), "--5" and "\u00b2" pass isdigit but int()
    # raises "invalid literal for int()". These are valid text labels that worked before the
    # change (pandas read them as text/objects).
    # RIGHT: keep them as text labels (ints only when every label round-trips through int64).
    csv = tmp_path / "labels.csv"
    csv.write_text(f"path,label\na.png,{label}\nb.png,7\n")
    paths, labels, groups = read_detect_input(str(csv))
    assert [str(v) for v in labels] == [label, "7"]


# --------------------------------------------------------------------------- #
# detectors._probe.check_Cs
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("Cs", [pd.Series([0.1, 1.0]), range(1, 4)], ids=["series", "range"])
def test_consensus_Cs_takes_any_array_like_of_positive_numbers(Cs):
    # WRONG: check_Cs accepts only list/tuple/ndarray and maps anything else to an empty
    # array, so Cs=pd.Series([0.1, 1.0]) or Cs=range(1, 4) is refused with "Cs must be a
    # non-empty sequence of positive numbers" although the parameter constraint is
    # "array-like", the docstring says "sequence of float", and both were accepted before
    # this change (len/min/tuple worked on them).
    # RIGHT: read any array-like (np.asarray) and check its values.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 5))
    X[np.arange(60), y] += 3
    detector = ConsensusDetector(Cs=Cs, random_state=0).fit(X, y)
    assert detector.clean_mask_.shape == (60,)


# --------------------------------------------------------------------------- #
# embedding_cache: a store holding rows of two widths (as stores written before this change could)
# --------------------------------------------------------------------------- #
def test_store_lookup_keeps_the_majority_width_not_whichever_shard_sorts_first(tmp_path):
    # WRONG: lookup() takes the width of the first shard *with a hit*, in file-name order
    # (random uuids), and deletes every later shard of another width as "damaged"; add()
    # then takes the store's width from the first shard on disk. One stray 8-wide shard
    # that happens to sort first deletes all the good 4-wide shards, and the store refuses
    # the backbone's real 4-wide embeddings from then on (ValueError inside transform).
    # RIGHT: which shards survive must not depend on file names; at least the good shards
    # (the width the store is being used with / the majority) must not be deleted, and a
    # stray shard must not lock the store to its width.
    import os
    import warnings
    from skclip_noise.embedding_cache import EmbeddingStore

    store = EmbeddingStore(tmp_path, "backbone")
    store.add([b"a" * 20], np.ones((1, 4), np.float32))
    store.add([b"c" * 20], np.ones((1, 4), np.float32))
    store._width = lambda: None  # write a stray shard of another width, as add() allowed before
    store.add([b"b" * 20], np.full((1, 8), 2, np.float32))
    del store._width
    odd = next(s for s in store._shards() if np.load(s + ".emb.npy").shape[1] == 8)
    for suffix in (".keys.npy", ".emb.npy", ".sums.npy"):  # the stray shard's uuid sorts first
        if os.path.exists(odd + suffix):
            os.rename(odd + suffix, os.path.join(store.directory, "0" * 32 + suffix))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found, values = store.lookup([b"a" * 20, b"b" * 20, b"c" * 20])
    assert found[0] and found[2], "the two good 4-wide shards were deleted because a stray shard sorted first"
    store.add([b"d" * 20], np.ones((1, 4), np.float32))  # the backbone's own width stays usable


# Before: a pred_probs table headed by the classes' text ("0", "1", "2", as pd.read_csv gives
# it for integer labels) was refused since tables became read by column name. Right: the
# text of a class names it too (the CLI's --pred-probs CSV matches columns the same way).
def test_pred_probs_table_headed_by_the_text_of_integer_labels_is_read_by_name():
    from skclip_noise.data.labels import check_pred_probs

    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    table = pd.DataFrame(proba[:, ::-1], columns=["2", "1", "0"])
    np.testing.assert_array_equal(check_pred_probs(table, n_samples=2, classes=np.array([0, 1, 2])), proba)


# cleanlab refuses adjust_pred_probs with confidence_weighted_entropy; "as in cleanlab" here too.
def test_adjust_pred_probs_with_confidence_weighted_entropy_is_refused_as_in_cleanlab():
    from skclip_noise.filter import find_label_issues

    labels = np.repeat([0, 1], 10)
    proba = np.where(np.eye(2)[labels] > 0, 0.8, 0.2)
    with pytest.raises(ValueError, match="confidence_weighted_entropy"):
        find_label_issues(labels, proba, return_indices_ranked_by="confidence_weighted_entropy",
                          rank_by_kwargs={"adjust_pred_probs": True})


# confident_learning_mask ignored frac_noise with the "low_*" rules without a word.
def test_frac_noise_with_a_low_score_rule_warns_that_it_is_ignored():
    from skclip_noise.selection import confident_learning_mask

    labels = np.repeat([0, 1], 10)
    proba = np.where(np.eye(2)[labels] > 0, 0.8, 0.2)
    with pytest.warns(UserWarning, match="frac_noise is ignored"):
        confident_learning_mask(labels, proba, filter_by="low_self_confidence", frac_noise=0.5)
