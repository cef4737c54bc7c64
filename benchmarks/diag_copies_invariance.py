"""Are the verdicts on a data set given twice those on the data set given once?

    .venv/bin/python benchmarks/diag_copies_invariance.py --out benchmarks/results/copies_invariance.md

``ConsensusDetector`` judges exact copies given one label as one image (one fold of the
probe, one place in a neighbourhood). Then a data set in which every image is given
twice should get the verdicts of the data set given once. For each cached feature set
(the first 5,000 images), symmetric noise 20 %, seed 0: the detector on the images
once and on every image twice; the share of images whose verdict (first copy) is the
same, and the clean F1 of both.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import write_markdown  # noqa: E402
from _features import get_features  # noqa: E402

FEATURE_SETS = ("digits_raw", "digits_mobilenetv2", "mnist_mobilenetv2", "fmnist_mobilenetv2")


def main(argv=None):
    from skclip_noise import ConsensusDetector, detection_report, make_noisy_labels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    lines = ["# Verdicts on every image given twice against the images given once", "",
             f"`benchmarks/diag_copies_invariance.py{' ' + ' '.join(argv or sys.argv[1:])}`: ConsensusDetector "
             "at its defaults, symmetric noise 20 %, seed 0, the first 5,000 images.", "",
             "| features | same verdict | clean F1 once | clean F1 twice |", "|---|---|---|---|"]
    for name in FEATURE_SETS:
        X, y, _ = get_features(name, verbose=False)
        X, y = X[:5000], y[:5000]
        y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            once = ConsensusDetector(random_state=0).fit(X, y_noisy).clean_mask_
            twice = ConsensusDetector(random_state=0).fit(np.vstack([X, X]), np.r_[y_noisy, y_noisy]).clean_mask_
        f1_once = detection_report(is_noisy, once, output_dict=True)["clean_f1"]
        f1_twice = detection_report(np.r_[is_noisy, is_noisy], twice, output_dict=True)["clean_f1"]
        lines.append(f"| {name} | {np.mean(twice[:len(X)] == once):.4f} | {f1_once:.4f} | {f1_twice:.4f} |")
    write_markdown("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
