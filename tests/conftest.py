import os

# Tests never download: hub look-ups must fail at once (and clearly) instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import skclip_noise  # noqa: E402,F401  (installs the torchvision shim first)
from skclip_noise.datasets import FASHION_MNIST_DEFAULT_PATH, FASHION_MNIST_ENV_VAR, load_digits_images

# ----------------------------------------------------------------- optional data and tools
# Debian's Fashion-MNIST and Chromium are optional: tests that need them are marked
# ``optional_data`` and skip, saying why, where they are absent. CI runs the suite once with
# both hidden (SKCLIP_NOISE_FASHION_MNIST=<empty folder>, SKCLIP_NOISE_CHROMIUM=""), as on a
# bare machine, and the ``optional_data`` tests once more with them present.

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: Where ``load_fashion_mnist()`` looks when no path is given.
FASHION_MNIST_FOLDER = os.environ.get(FASHION_MNIST_ENV_VAR) or FASHION_MNIST_DEFAULT_PATH
HAVE_FASHION_MNIST = all(
    os.path.isfile(os.path.join(FASHION_MNIST_FOLDER, name)) for name in FASHION_MNIST_FILES
)
FASHION_MNIST_MISSING = (
    f"Fashion-MNIST IDX files absent from {FASHION_MNIST_FOLDER} "
    f"(apt-get install dataset-fashion-mnist, or set {FASHION_MNIST_ENV_VAR} to a folder of them)"
)

#: Debian's Chromium: ``SKCLIP_NOISE_CHROMIUM`` names another binary, or hides it when empty.
CHROMIUM = os.environ.get("SKCLIP_NOISE_CHROMIUM", shutil.which("chromium") or "") or None
CHROMIUM_MISSING = "Debian's chromium is not available (apt-get install chromium; SKCLIP_NOISE_CHROMIUM names another binary)"


#: chromium-driver, which Selenium drives Chromium with: ``SKCLIP_NOISE_CHROMEDRIVER`` names
#: another binary, or hides it when empty.
CHROMEDRIVER = os.environ.get("SKCLIP_NOISE_CHROMEDRIVER", shutil.which("chromedriver") or "") or None


def _selenium_missing():
    reasons = []
    if CHROMIUM is None:
        reasons.append(CHROMIUM_MISSING)
    if CHROMEDRIVER is None:
        reasons.append("Debian's chromium-driver is not available (apt-get install chromium-driver; "
                       "SKCLIP_NOISE_CHROMEDRIVER names another binary)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        reasons.append("selenium is not installed (pip install -e '.[test]')")
    return "; ".join(reasons) or None


SELENIUM_MISSING = _selenium_missing()


def fashion_mnist_marks():
    """The marks of a test that needs the real Fashion-MNIST files."""
    return [pytest.mark.optional_data, pytest.mark.skipif(not HAVE_FASHION_MNIST, reason=FASHION_MNIST_MISSING)]


def chromium_marks():
    """The marks of a test that needs Debian's Chromium."""
    return [pytest.mark.optional_data, pytest.mark.skipif(CHROMIUM is None, reason=CHROMIUM_MISSING)]


def _apply(marks):
    def decorate(test):
        for mark in marks:
            test = mark(test)
        return test

    return decorate


needs_fashion_mnist = _apply(fashion_mnist_marks())
needs_chromium = _apply(chromium_marks())
needs_selenium = _apply([pytest.mark.optional_data,
                         pytest.mark.skipif(SELENIUM_MISSING is not None, reason=SELENIUM_MISSING or "")])


def headless_chromium(folder):
    """A headless Chromium driven by Selenium, with a fresh profile in ``folder`` and its
    downloads (``driver.downloads``) in ``folder/downloads``; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", f"--user-data-dir={os.path.join(folder, 'profile')}"):
        options.add_argument(flag)
    downloads = os.path.join(folder, "downloads")
    os.makedirs(downloads, exist_ok=True)
    options.add_experimental_option("prefs", {"download.default_directory": downloads,
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    driver.downloads = Path(downloads)
    return driver


@pytest.fixture(scope="session")
def digits():
    """Real 8x8 digit images (uint8) and their labels."""
    return load_digits_images()


@pytest.fixture(scope="module")
def digits_noisy():
    """The first 600 digits as X / 16, their labels, 30 % symmetric noise and its mask."""
    from sklearn.datasets import load_digits

    from skclip_noise import make_noisy_labels

    data = load_digits()
    X, y = data.data[:600] / 16.0, data.target[:600]
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
    return X, y, y_noisy, is_noisy


@pytest.fixture(scope="module")
def four_digit_pred_probs():
    """300 digits of classes 0-3 under 20 % symmetric noise: (noisy labels, a logistic
    regression's out-of-fold probabilities, the noise mask)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from skclip_noise import make_noisy_labels

    X, y = load_digits(return_X_y=True)
    keep = y < 4
    X, y = X[keep][:300] / 16.0, y[keep][:300]
    labels, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    pred_probs = cross_val_predict(LogisticRegression(max_iter=300), X, labels, cv=5, method="predict_proba")
    return labels, pred_probs, is_noisy


def folds():
    """Three shuffled stratified folds, the same in every test that uses them."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture
def small_digits(digits):
    X, y = digits
    return X[:40].copy(), y[:40].copy()


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory, digits):
    """A class-subfolder image folder written from 30 digits (PNG files)."""
    from skclip_noise.datasets import make_image_folder

    X, y = digits
    root = tmp_path_factory.mktemp("digits_folder") / "images"
    return make_image_folder(X[:30], y[:30], root)


@pytest.fixture
def rng_guard():
    """Fails the test if the code under test touched numpy's or torch's global RNG."""
    numpy_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    yield
    assert np.array_equal(np.random.get_state()[1], numpy_state), "a test touched numpy's global RNG"
    assert torch.equal(torch.get_rng_state(), torch_state), "a test touched torch's global RNG"


# ------------------------------------------------------------------- shared test helpers
# Imported by the test files that need them (``from conftest import ...``), as the marks above.

#: The tiny offline CLIP with random weights, on the CPU, seeded: every torch estimator's cheap setup.
TINY_CLIP = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", random_state=0)


def random_images(n=16, side=32, seed=0):
    """``n`` random colour images of ``side`` pixels (uint8)."""
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def cat_dog_labels(n=16):
    """``n`` string labels alternating "cat" and "dog"."""
    return np.array(["cat", "dog"] * (n // 2) + ["cat"] * (n % 2))


@pytest.fixture
def embedding_passes(monkeypatch):
    """The number of images of each ``ImageEmbedder.transform`` call during the test."""
    from skclip_noise import embedder as embedder_module

    calls = []
    transform = embedder_module.ImageEmbedder.transform

    def counting(self, X):
        calls.append(len(X))
        return transform(self, X)

    monkeypatch.setattr(embedder_module.ImageEmbedder, "transform", counting)
    return calls


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test, its thread count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rename_to_latin1(path, stem="caf\xe9"):
    """Rename ``path`` to a name whose bytes are not UTF-8 (Latin-1 ``é``, as a folder
    copied from an old Windows share or unpacked from an old zip has them); the new path
    as Python lists it (a str with a surrogate escape), or skip where the file system
    refuses such names."""
    folder = os.path.dirname(os.fsencode(path))
    target = os.path.join(folder, stem.encode("latin-1") + os.path.splitext(os.fsencode(path))[1])
    try:
        os.rename(os.fsencode(path), target)
    except OSError as exc:  # pragma: no cover - a file system that only takes UTF-8 names
        pytest.skip(f"this file system refuses non-UTF-8 file names ({exc})")
    return os.fsdecode(target)


def cli_exit(argv, capsys):
    """``cli.main`` as a user runs it: (exit status, stderr). An exception escaping
    ``main`` is a traceback printed to the user, so it fails the test."""
    from skclip_noise import cli

    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse
        status = exc.code
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"cli.main raised {type(exc).__name__}: {exc} (a traceback for the user) instead of exiting 2")
    return status, capsys.readouterr().err


class StopFit(Exception):
    """Raised by :func:`recorded_fit`'s detector once it has seen what it would fit on."""


@pytest.fixture
def recorded_fit(monkeypatch):
    """Replace the command line's detector: record the X (as a list) and y ``detect`` would
    fit on, then raise :class:`StopFit`."""
    from skclip_noise import cli

    seen = {}

    class Recorder:
        def fit(self, X, y, **kwargs):
            seen["X"], seen["y"] = list(X), list(y)
            raise StopFit

    monkeypatch.setattr(cli, "make_detector", lambda *args, **kwargs: Recorder())
    return seen


class RecordingDataset(torch.utils.data.Dataset):
    """A torch Dataset of grey images (float in [0, 1], label 0) that records which items
    were read, in order (``loaded``)."""

    def __init__(self, images):
        self.images = images
        self.loaded = []

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        self.loaded.append(index)
        return torch.from_numpy(self.images[index]).float().div(255).unsqueeze(0), 0


def tiny_hf_clip_name(tmp_path_factory, name, pooler="mean_pooler", words=()):
    """Register an open_clip config ``name`` whose text tower is a 2-layer BERT (uncased, its
    own vocabulary of ``words``, random weights, written to a temporary folder: no
    download); returns ``name``."""
    import json

    import open_clip
    import transformers

    folder = tmp_path_factory.mktemp(f"{name}-bert")
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=48, max_position_embeddings=96,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    configs = tmp_path_factory.mktemp(f"{name}-configs")
    (configs / f"{name}.json").write_text(json.dumps({
        "embed_dim": 24,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"hf_model_name": str(folder), "hf_tokenizer_name": str(folder), "hf_proj_type": "linear",
                     "hf_pooler_type": pooler, "context_length": 24},
    }))
    open_clip.add_model_config(configs)
    return name


def image_files(folder, n, seed=0, ext="png"):
    """``n`` random 32x32 colour image files in ``folder`` (made if missing); their paths."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(random_images(n, side=32, seed=seed)):
        path = folder / f"{i}.{ext}"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def class_folders(root, classes=("cat", "dog"), per_class=6):
    """An image folder ``root/<class>/<i>.png`` of random images; ``root``."""
    for seed, name in enumerate(classes):
        image_files(root / name, per_class, seed=seed)
    return root


def passthrough_deft(**params):
    """DEFT's phase 2 alone (no detector): plain fine-tuning of the tiny CLIP tower."""
    from skclip_noise import DeftClassifier

    return DeftClassifier("passthrough", **{**TINY_CLIP, "epochs": 1, "batch_size": 8, **params})


def issues_table(quality, given, predicted=None, flagged=None, index=None):
    """A detector's ``label_issues_``-like table: flagged below 0.5 unless ``flagged`` is
    given, the predicted label the given one unless ``predicted`` is."""
    import pandas as pd

    quality = np.asarray(quality, dtype=float)
    return pd.DataFrame(
        {
            "is_label_issue": quality < 0.5 if flagged is None else flagged,
            "label_quality": quality,
            "given_label": given,
            "predicted_label": given if predicted is None else predicted,
        },
        index=index,
    )


class StandInDetector:
    """A fitted detector's outputs without a fit: every sample flagged, the next class
    suggested (what ``cli._write_outputs`` reads). ``on_fit`` runs inside ``fit``."""

    flag_disagreement = True
    random_state = 0
    on_fit = None

    def fit(self, X, y, **kwargs):
        if StandInDetector.on_fit is not None:
            StandInDetector.on_fit()
        y = np.asarray(y, dtype=object)
        classes = np.array(sorted(set(y.tolist()), key=str), dtype=object)
        following = {label: classes[(i + 1) % len(classes)] for i, label in enumerate(classes)}
        suggested = np.array([following[label] for label in y], dtype=object)
        flagged = np.ones(len(y), dtype=bool)
        self.classes_ = classes
        self.label_issues_ = pd.DataFrame({
            "is_label_issue": flagged, "label_quality": np.linspace(0.01, 0.99, len(y)), "given_label": y,
            "predicted_label": suggested, "issue_type": "label",
            "suggested_label": suggested, "suggested_label_confidence": 0.9,
        })
        self.clean_mask_ = ~flagged
        self.noise_rate_ = float(flagged.mean())
        k = len(classes)
        self.noise_transition_ = np.full((k, k), 0.2 / (k - 1)) + np.eye(k) * (0.8 - 0.2 / (k - 1))
        return self


@pytest.fixture
def stand_in(monkeypatch):
    """The command line's detector replaced by :class:`StandInDetector` (no embedding, no fit)."""
    from skclip_noise import cli

    monkeypatch.setattr(cli, "make_detector", lambda *args, **kwargs: StandInDetector())
    monkeypatch.setattr(StandInDetector, "on_fit", None)
