"""Diagnostic (rejected rule): should the caller's pred_probs replace the features' evidence when they
predict every given label better than the detector's first probe?

Prototype, not shipped: with ``features``, the caller's ``pred_probs`` take all the weight left
when, each at the temperature that fits every given label, they predict those labels better than
the detector's first probe (out of fold, on the features) by more than SIGNIFICANCE standard
errors of the per-sample gains. Prints, per setting and caller model, that gain and its z, and
clean F1 of the features alone, of today's rule and of the prototype.

    .venv/bin/python benchmarks/diag_strong_caller_weight.py toy
    .venv/bin/python benchmarks/diag_strong_caller_weight.py digits_raw lr,other,svc,knn,rf 0

``toy``: three Gaussian classes of 200 in 3 dimensions (class means 1, 2 or 4 apart), 30 %
symmetric noise, and an oracle caller that knows every true class (0.8 on it, 0.1 elsewhere):
a model trained on other, clean data.

Result: ``results/strong_caller_weight.md``.
"""
import os
import sys
import warnings
os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
warnings.simplefilter("ignore")
import skclip_noise.detectors.consensus as cons
from skclip_noise.selection import fit_temperature, scaled_given_proba
from skclip_noise import ConsensusDetector, detection_report
from skclip_noise.detectors._consensus_rules import SIGNIFICANCE

orig = cons.weigh_pred_probs
STATE = {"on": False, "z": None}

def proto(codes, refitted, extra, fixed, pred_probs, own_first_probe, kept, calibrated):
    if calibrated:
        pp = scaled_given_proba(codes, pred_probs, fit_temperature(codes, pred_probs))
        ref = scaled_given_proba(codes, own_first_probe, fit_temperature(codes, own_first_probe))
        d = np.log(pp) - np.log(ref)
        z = float(d.mean() / (d.std() / np.sqrt(len(d))))
        STATE["z"] = (float(d.mean()), z)
        if STATE["on"] and z > SIGNIFICANCE:
            return fixed + (1.0 - sum(fixed),), pred_probs
    return orig(codes, refitted, extra, fixed, pred_probs, own_first_probe, kept, calibrated)

cons.weigh_pred_probs = proto
from _detection_protocol import SETTINGS, cleanlab_best, noisy_labels
from _features import get_features
from _find_label_issues_bench import OTHER_FEATURES, caller_pred_probs

def report(label, X, y_noisy, is_noisy, P, seed, base=None):
    f = lambda m: detection_report(is_noisy, m, output_dict=True)["clean_f1"]  # noqa: E731
    base = ConsensusDetector(random_state=seed).fit(X, y_noisy) if base is None else base
    STATE["on"] = False
    today = ConsensusDetector(random_state=seed).fit(X, y_noisy, pred_probs=P)
    STATE["on"] = True
    new = ConsensusDetector(random_state=seed).fit(X, y_noisy, pred_probs=P)
    print(f"{label}: gain {STATE['z'][0]:+.3f} z {STATE['z'][1]:5.1f} | F1 features {f(base.clean_mask_):.4f} "
          f"today {f(today.clean_mask_):.4f} (w {today.pred_probs_weight_:.2f}) proto {f(new.clean_mask_):.4f} "
          f"(w {new.pred_probs_weight_:.2f})", flush=True)
    return base


name = sys.argv[1]
if name == "toy":
    from skclip_noise import make_noisy_labels

    rng = np.random.default_rng(0)
    for scale in (1.0, 2.0, 4.0):
        y = np.repeat(np.arange(3), 200)
        X = np.eye(3)[y] * scale + rng.normal(size=(600, 3))
        y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
        P = np.full((600, 3), 0.1)
        P[np.arange(600), y] = 0.8
        report(f"toy, class means {scale:g} apart, oracle caller", X, y_noisy, is_noisy, P, 0)
    sys.exit()
callers = sys.argv[2].split(",")
seeds = [int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "0").split(",")]
X, y, pixels = get_features(name)
for seed in seeds:
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        base = None
        for caller in callers:
            if caller == "other":
                P, _ = cleanlab_best(get_features(OTHER_FEATURES[name])[0], y_noisy, seed)
            else:
                P, _ = caller_pred_probs(caller, X, y_noisy, seed)
            base = report(f"{name} s{seed} {kind} {rate} {caller}", X, y_noisy, is_noisy, P, seed, base)
