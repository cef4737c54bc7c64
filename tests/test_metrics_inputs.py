"""Regression tests from a bug hunt on the metrics, the noise helpers and the embedding cache.

Covers :mod:`skclip_noise.metrics` (and the number-returning
:func:`~skclip_noise.report.selection_precision_recall_curve`, which shares its mask
check), :func:`~skclip_noise.noise.noise_transition_matrix`,
:func:`~skclip_noise.noise.make_open_set` and the public API of
:mod:`skclip_noise.embedding_cache` (:class:`EmbeddingStore`, :func:`content_keys`).
Each test pins one bug found by feeding them realistic (and realistically wrong)
inputs: a silent wrong answer, or an error raised from deep inside numpy or pandas
instead of a clear message. Tiny data only.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from skclip_noise.embedding_cache import EmbeddingStore, content_keys
from skclip_noise.metrics import detection_report
from skclip_noise.noise import make_open_set, noise_transition_matrix
from skclip_noise.report import selection_precision_recall_curve


# --------------------------------------------------------------------------- #
# metrics (and the report's precision-recall numbers)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "call",
    [
        lambda truth: detection_report(truth, [True, True, False, False], output_dict=True),
        lambda truth: selection_precision_recall_curve([0.9, 0.8, 0.3, 0.1], truth),
    ],
    ids=["detection_report", "selection_precision_recall_curve"],
)
def test_ground_truth_with_pandas_missing_value_gets_a_clear_error(call):
    # A ground-truth column read with pandas' nullable "boolean" dtype, with a sample
    # whose truth is unknown (<NA>). check_bool_mask compares the object array with 0
    # and 1 and casts the result to bool, so pandas raises
    # "TypeError: boolean value of NA is ambiguous" from deep inside it, naming neither
    # the argument nor the fix. (The nullable "Int64" column gets the clear
    # "is_noisy must be boolean ...; found other values [nan]".) Right: a ValueError
    # naming is_noisy and the missing value, like the other bad masks.
    truth = pd.Series([False, pd.NA, True, False], dtype="boolean")
    with pytest.raises(ValueError, match="is_noisy"):
        call(truth)


# --------------------------------------------------------------------------- #
# noise_transition_matrix
# --------------------------------------------------------------------------- #
def test_transition_matrix_unsorted_classes_are_not_silently_reordered():
    # classes "index the rows and columns". Given in the user's (e.g. a classifier's
    # or a plot's) order, they are sorted without a word, so row 0 is "a" although the
    # user named "b" first: every row and column is read as the wrong class.
    # (make_model_noise refuses unsorted classes for the same reason.) Right: follow
    # the given order, as sklearn's confusion_matrix(labels=...) does, or refuse.
    y_true = ["a", "a", "b"]
    y_noisy = ["a", "b", "b"]
    try:
        T = noise_transition_matrix(y_true, y_noisy, classes=["b", "a"], normalize=None)
    except ValueError:
        return  # refusing unsorted classes is a fix too
    assert_array_equal(T, [[1, 0], [1, 1]])  # rows/columns in the given order: b, a


def test_transition_matrix_large_int_labels_of_mixed_signedness_stay_exact():
    # y_true int64 and y_noisy uint64 (the same labels): the class array is cast to
    # np.result_type(int64, uint64) == float64, so labels 2**53 and 2**53 + 1 become one
    # float and every sample lands in the first cell: [[3, 0], [0, 0]] instead of the
    # identity counts. Right: exact classes (or a clear error), never merged labels.
    y_true = np.array([2**53, 2**53 + 1, 2**53 + 1], dtype=np.int64)
    y_noisy = y_true.astype(np.uint64)
    try:
        counts = noise_transition_matrix(y_true, y_noisy, normalize=None)
    except ValueError:
        return  # refusing labels of mixed integer types is a fix too
    assert_array_equal(counts, [[1, 0], [0, 2]])


# --------------------------------------------------------------------------- #
# make_open_set
# --------------------------------------------------------------------------- #
def test_open_set_float_images_on_another_scale_are_refused():
    # The docstring: X_outside must have X's "scale" and the function raises "if
    # X_outside is in another ... scale than X". Integer images are checked (values that
    # do not fit X's dtype are refused), but float images in [0, 1] (X) mixed with float
    # images in [0, 255] (X_outside, e.g. loaded with .astype(float)) go through: the
    # outside images end up 255x too bright in X_new. The library's own image check
    # then says "divide by 255", which darkens every original image instead. Right: a
    # ValueError, as for uint8 images mixed with float ones.
    rng = np.random.RandomState(0)
    X = rng.random_sample((6, 4, 4))  # floats in [0, 1]
    y = np.array([0, 0, 0, 1, 1, 1])
    X_outside = rng.randint(0, 256, (4, 4, 4)).astype(np.float64)  # floats in [0, 255]
    with pytest.raises(ValueError):
        make_open_set(X, y, X_outside, rate=1 / 3, random_state=0)


# --------------------------------------------------------------------------- #
# embedding_cache
# --------------------------------------------------------------------------- #
def test_store_keys_longer_than_a_digest_do_not_collide(tmp_path):
    # EmbeddingStore casts keys to numpy's fixed-width "S20", which silently cuts every
    # key after 20 bytes. Two keys that share their first 20 bytes (file names, hex
    # digests, ...) become one: the second image is served the first one's embedding.
    # Right: refuse keys that are not 20-byte digests (ValueError naming content_keys)
    # or keep them whole; never return another key's row.
    store = EmbeddingStore(tmp_path, "backbone")
    keys = ["photos/cat_000000000001.png", "photos/cat_000000000002.png"]
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    try:
        store.add(keys, embeddings)
    except (ValueError, TypeError):
        return  # refusing such keys is a fix too
    found, values = store.lookup(keys)
    assert found.all()
    assert_array_equal(values, embeddings)


@pytest.mark.parametrize(
    "keys, embeddings",
    [
        ([b"a" * 20, b"b" * 20, b"c" * 20], np.ones((2, 4), dtype=np.float32)),  # 3 keys, 2 rows
        ([b"a" * 20], np.ones(4, dtype=np.float32)),  # a 1-D row, not (1, 4)
    ],
    ids=["fewer-rows-than-keys", "one-dimensional-embeddings"],
)
def test_store_add_refuses_embeddings_that_do_not_match_the_keys(tmp_path, keys, embeddings):
    # add() writes whatever it is given. The next lookup finds a shard that is "not one
    # row per key", warns that the cache file "is damaged" (pointing at the disk, not the
    # caller) and deletes it. Right: a ValueError from add(), before anything is
    # written, saying one 2-D row per key is needed.
    store = EmbeddingStore(tmp_path, "backbone")
    with pytest.raises(ValueError):
        store.add(keys, embeddings)


def test_store_with_rows_of_two_widths_does_not_crash_in_lookup(tmp_path):
    # A store holds one backbone configuration, so one embedding width. add() accepts
    # rows of another width, and a lookup that hits shards of both widths crashes with
    # numpy's "shape mismatch: value array of shape (1,8) could not be broadcast to
    # indexing result of shape (1,4)". Right: add() refuses a width that differs from
    # the store's (ValueError), or lookup treats the odd shard as not matching.
    store = EmbeddingStore(tmp_path, "backbone")
    store.add([b"a" * 20], np.ones((1, 4), dtype=np.float32))
    try:
        store.add([b"b" * 20], np.ones((1, 8), dtype=np.float32))
    except ValueError:
        return  # refusing the other width is a fix
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reporting the odd shard is fine
        found, values = store.lookup([b"a" * 20, b"b" * 20])
    assert found.any()
    assert values.shape[0] == found.sum()


def test_content_keys_of_an_image_array(tmp_path):
    # content_keys' docstring: "Arrays hash their pixels and shape; paths hash the file
    # bytes; torch datasets hash the decoded pixels", but passing an array (or paths)
    # fails with "AttributeError: 'numpy.ndarray' object has no attribute
    # 'image_input'": it only takes the internal ImageDataset, which the docstring never
    # names. Right: accept the documented inputs (one key per sample), or raise a
    # TypeError saying what to pass.
    X = np.zeros((2, 8, 8), dtype=np.uint8)
    X[1, 0, 0] = 255
    try:
        keys = content_keys(X)
    except (TypeError, ValueError):
        return  # a clear refusal is a fix too
    assert len(keys) == 2 and keys[0] != keys[1]
