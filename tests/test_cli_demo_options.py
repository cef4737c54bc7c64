"""``skclip-noise demo``'s options as a newcomer tries them: each test here is a defect
found by running the demo with that option (or combination), and fails until it is fixed."""

import numpy as np
import pytest
from conftest import StopFit, cli_exit, fashion_mnist_marks, needs_fashion_mnist

from skclip_noise import cli

#: The demo's cheapest run: the training-free detector, no messages but errors and warnings.
FAST = ["--detector", "neighbour"]


def _run_until_fit(argv, capsys):
    """``cli.main(argv)`` with the detector replaced by :func:`recorded_fit`'s recorder:
    (exit status, or None when the run got as far as fitting; stderr)."""
    try:
        status = cli.main(argv)
    except StopFit:
        status = None
    except SystemExit as exc:  # argparse
        status = exc.code
    return status, capsys.readouterr().err


# ------------------------------------------------------------------- --n-samples


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--n-samples", "5"], id="digits-5"),
        pytest.param(["--dataset", "fashion-mnist", "--n-samples", "1"], id="fashion-mnist-1",
                     marks=fashion_mnist_marks()),
    ],
)
def test_demo_n_samples_too_small_for_the_classes_names_the_flag(argv, tmp_path, capsys):
    """A newcomer trying a tiny run (``--n-samples 5`` of digits' 10 classes) gets
    scikit-learn's "The train_size = 5 should be greater or equal to the number of
    classes = 10" (Fashion-MNIST with ``--n-samples 1``: "y has a single class (8) ...
    Pass classes=[...]"): neither names the flag they passed, and the demo has no
    train_size or classes= to change. Expected: exit 2 with a message about
    ``--n-samples`` (at least one image per class, ten classes).

    Cause: _cli_inputs.load_demo_data / _stratified_subset pass --n-samples on to
    train_test_split / load_fashion_mnist and make_noisy_labels unchecked."""
    status, err = cli_exit(["demo", *argv, *FAST, "--output-dir", str(tmp_path), "-q"], capsys)
    assert status == 2, err
    assert "--n-samples" in err, err
    assert "train_size" not in err and "classes=[" not in err, err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--n-samples", "5000"], id="digits-5000-of-1797"),
        pytest.param(["--dataset", "fashion-mnist", "--n-samples", "70000"], id="fashion-mnist-70000-of-60000",
                     marks=fashion_mnist_marks()),
    ],
)
def test_demo_n_samples_above_the_data_set_is_said_in_terms_of_the_flag(argv, tmp_path, capsys, recorded_fit):
    """``--n-samples`` larger than the data set: digits silently runs on its 1797 images
    (no word that the 5000 asked for were not there), while Fashion-MNIST stops with the
    library's "n_samples=70000 exceeds the 60000 images of subset 'train'" (no such
    option, no such subset flag). Expected: either way, a message naming ``--n-samples``
    and the data set's size (a warning that all N images are used, or exit 2).

    Cause: _cli_inputs._stratified_subset returns the whole set when n >= len(y) without a word;
    _cli_inputs.load_demo_data lets load_fashion_mnist's Python-worded ValueError through."""
    status, err = _run_until_fit(["demo", *argv, *FAST, "--output-dir", str(tmp_path)], capsys)
    assert status in (None, 2), err
    assert "--n-samples" in err, err


# ------------------------------------------------------------------- --dataset fashion-mnist


def test_demo_missing_fashion_mnist_gives_advice_the_command_line_can_follow(tmp_path, capsys, monkeypatch):
    """With the data hidden (``SKCLIP_NOISE_FASHION_MNIST=<empty folder>``), ``demo
    --dataset fashion-mnist`` says "... or pass path= to a folder holding the four IDX
    .gz files ...": the command has no path= (nor a --path). Expected: advice in the
    command's terms only (apt-get install, or the SKCLIP_NOISE_FASHION_MNIST variable).

    Cause: load_fashion_mnist's message (datasets/fashion_mnist.py,
    _fashion_missing_message) is printed as is; cli.as_flags has no rewording for it."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("SKCLIP_NOISE_FASHION_MNIST", str(empty))
    status, err = cli_exit(["demo", "--dataset", "fashion-mnist", "--n-samples", "100", *FAST,
                            "--output-dir", str(tmp_path / "out"), "-q"], capsys)
    assert status == 2 and "SKCLIP_NOISE_FASHION_MNIST" in err, err
    assert "path=" not in err, err


@needs_fashion_mnist
def test_demo_fashion_class_names_in_the_data_set_order_name_their_own_class(tmp_path, capsys, monkeypatch):
    """``--class-names`` is documented as "names for integer labels, in sorted label
    order"; Fashion-MNIST's labels are the integers 0 (T-shirt/top) .. 9 (Ankle boot),
    so a newcomer passes ten names in that order. The demo, however, fits on the class
    *names* as labels, whose sorted order is alphabetical ("Ankle boot", "Bag", ...):
    the prompt for "Ankle boot" becomes "t-shirt/top", "Trouser" becomes "ankle boot",
    and nothing says so. Expected: each class is prompted with the name given for it.

    Cause: cli.run_demo fits on names[y_noisy] (strings) and passes --class-names
    unchanged, so LabelEncoding reads them in the names' alphabetical order."""
    from skclip_noise import detectors
    from skclip_noise.data.labels import LabelEncoding
    from skclip_noise.datasets import FASHION_MNIST_CLASSES

    seen = {}

    def record(self, X, y, **kwargs):
        seen["y"], seen["class_names"] = np.asarray(y), self.class_names
        raise StopFit

    monkeypatch.setattr(detectors.LabelMatchDetector, "fit", record)
    given = [name.lower() for name in FASHION_MNIST_CLASSES]  # in label order 0..9
    status, err = _run_until_fit(["demo", "--dataset", "fashion-mnist", "--n-samples", "100", "--aligned-clip",
                                  "--detector", "label-match", "--class-names", ",".join(given),
                                  "--output-dir", str(tmp_path), "-q"], capsys)
    assert status is None, err
    encoding = LabelEncoding(seen["y"], seen["class_names"])
    prompted = dict(zip(map(str, encoding.classes.tolist()), encoding.class_names))
    assert prompted == {name: name.lower() for name in FASHION_MNIST_CLASSES}, prompted


# ------------------------------------------------------------------- detector options


def _has_aligned_clip():
    from skclip_noise.backbones.offline_weights.files import _candidate_path

    paths = [_candidate_path(name)[1] for name in ("all_minilm_l6_v2", "efficientnet_lite0")]
    return all(path is not None and path.is_file() for path in paths)


def test_demo_too_many_neighbours_advice_can_be_followed(tmp_path, capsys):
    """``--n-neighbors 50`` on a 100-image run stops with "Lower n_neighbors below 5 (or
    pass 'auto')", but ``--n-neighbors auto`` is refused by the parser ("expected an
    integer >= 1; got 'auto'"). Expected: advice in flags (lower ``--n-neighbors`` below
    5, or leave it out for the automatic size).

    Cause: detectors/_neighbourhood.py's Python advice reaches the user unchanged;
    _cli_voice.PYTHON_TO_FLAGS has no rewording for n_neighbors / 'auto'."""
    status, err = cli_exit(["demo", "--n-samples", "100", *FAST, "--n-neighbors", "50",
                            "--output-dir", str(tmp_path), "-q"], capsys)
    assert status == 2, err
    assert "'auto'" not in err and "--n-neighbors" in err, err
    # The advice as given cannot be followed:
    assert cli_exit(["demo", "--n-neighbors", "auto"], capsys)[0] == 2


@pytest.mark.skipif(not _has_aligned_clip(), reason="the aligned CLIP needs the offline-weights extra")
def test_demo_class_names_count_error_speaks_in_flags(tmp_path, capsys):
    """``--aligned-clip --detector label-match --class-names a,b,c`` on ten classes stops
    with "class_names has 3 entries but y has 10 classes ...; give one name per class in
    sorted label order, or a mapping from label to name": the command line cannot pass a
    mapping and the option is --class-names. Expected: the message names
    ``--class-names`` and asks for ten comma-separated names.

    Cause: data/labels.py _resolve_class_names's Python message is printed as is."""
    status, err = cli_exit(["demo", "--n-samples", "60", "--aligned-clip", "--detector", "label-match",
                            "--class-names", "a,b,c", "--output-dir", str(tmp_path), "-q"], capsys)
    assert status == 2, err
    assert "--class-names" in err and "mapping" not in err, err


# ------------------------------------------------------------------- --random-state, --rate


@pytest.mark.parametrize("extra", [[], ["--n-samples", "100"]], ids=["all-digits", "subset"])
def test_demo_random_state_out_of_range_names_the_flag(extra, tmp_path, capsys):
    """``--random-state 4294967296`` is accepted by the parser, then the run stops with
    numpy's "Seed must be between 0 and 2**32 - 1" (or, with --n-samples, scikit-learn's
    "The 'random_state' parameter of train_test_split must be an int in the range
    [0, 4294967295] ..."). Expected: the parser refuses it naming ``--random-state`` and
    its range, as it does for negative seeds.

    Cause: _cli_options.add_detector_arguments types --random-state as number_type(int, 0) with no
    upper bound."""
    status, err = cli_exit(["demo", *extra, *FAST, "--random-state", str(2**32), "--output-dir", str(tmp_path),
                            "-q"], capsys)
    assert status == 2, err
    assert "--random-state" in err, err


def test_demo_small_rate_is_not_reported_as_zero_percent(tmp_path, capsys, recorded_fit):
    """``--rate 0.004`` on 250 images corrupts one label, yet the demo says "symmetric
    noise at 0%: 1 labels corrupted" (and report.txt / report.html's title call it "0%
    noise"). Expected: the rate as asked (0.4%), never 0% when labels were corrupted.

    Cause: cli.run_demo formats the rate with ``{args.rate:.0%}``."""
    status, err = _run_until_fit(["demo", "--n-samples", "250", "--rate", "0.004", *FAST,
                                  "--output-dir", str(tmp_path)], capsys)
    assert status is None, err
    line = next(line for line in err.splitlines() if "labels corrupted" in line)
    assert "1 labels corrupted" in line or "1 label corrupted" in line, line
    assert "at 0%" not in line, line
