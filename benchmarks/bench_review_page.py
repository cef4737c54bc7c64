"""The report's review page with thousands of suspects: size, load time, key response; and the docs' screenshots.

Run by hand (not part of the tests), with Debian's chromium and chromium-driver and selenium:

    .venv/bin/python benchmarks/bench_review_page.py --out benchmarks/results/review_page.md \
        --screenshots docs/user_guide/images

For each number of cards (``--cards``, default 200, 1,000, 2,000 and 10,000), a report of that
many flagged random 28x28 images (four classes) is written; then, in headless Chromium
(1280x900), the time until the review script has run (the progress counter filled), the time
of 25 decisions typed through Selenium (``j`` then ``g``; each key is a round trip to the
driver), the page's own time for one decision and move (25 more, as key events dispatched in
the page, each followed by the layout), the thumbnails loaded after that (they load as they
scroll into view) and the JavaScript heap. Up to 1,000 cards the
thumbnails are inside the page (data URIs), above it they are files beside it
(``thumbnails="auto"``). ``--screenshots``: the review of the real digits report (MobileNetV2
embeddings, 40 % noise: the demo's setting) in the middle of a review, and the same page
filtered to the decided cards.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import log, write_markdown  # noqa: E402


def driver(profile, width=1280, height=900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def keys(browser, *sequence):
    from selenium.webdriver.common.action_chains import ActionChains

    for key in sequence:
        ActionChains(browser).send_keys(key).perform()


def random_issues(n, rng):
    classes = np.array(["cat", "dog", "fox", "owl"])
    return pd.DataFrame({
        "is_label_issue": True, "label_quality": rng.random(n), "given_label": classes[rng.integers(4, size=n)],
        "suggested_label": classes[rng.integers(4, size=n)],
    })


def measure(n_cards, folder, rng):
    from skclip_noise.report import label_issues_html

    X = rng.integers(0, 255, size=(n_cards, 28, 28), dtype=np.uint8)
    start = time.perf_counter()
    page = label_issues_html(X, random_issues(n_cards, rng), os.path.join(folder, f"report_{n_cards}.html"),
                             max_items=None)
    written = time.perf_counter() - start
    thumbnails = os.path.join(folder, f"report_{n_cards}_thumbnails")
    thumbnail_bytes = sum(e.stat().st_size for e in os.scandir(thumbnails)) if os.path.isdir(thumbnails) else 0
    browser = driver(os.path.join(folder, f"profile_{n_cards}"))
    try:
        start = time.perf_counter()
        browser.get(f"file://{page}")
        browser.find_element("id", "review-progress")
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        keys(browser, *(["j", "g"] * 25))
        decided = time.perf_counter() - start
        # The page's own cost of a decision and a move, without Selenium's round trips.
        in_page = browser.execute_script("""
            var start = performance.now();
            for (var i = 0; i < 25; i++) {
              ["j", "g"].forEach(function (key) {
                // to the focused element, as a key press goes (the page ignores keys aimed elsewhere)
                (document.activeElement || document.body).dispatchEvent(
                  new KeyboardEvent("keydown", {key: key, bubbles: true}));
              });
              document.body.getBoundingClientRect();  // the layout that follows
            }
            return (performance.now() - start) / 25;""")
        progress = browser.find_element("id", "review-progress").text
        images = browser.execute_script(
            "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
        heap = browser.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : 0")
    finally:
        browser.quit()
    row = {"cards": n_cards, "page_mb": os.path.getsize(page) / 1e6, "thumbnail_files_mb": thumbnail_bytes / 1e6,
           "write_s": written, "load_s": loaded, "decide_25_s": decided, "decision_ms": in_page, "images_loaded": images,
           "heap_mb": heap / 1e6, "progress": progress}
    log(row)
    return row


def screenshots(folder, out):
    from selenium.webdriver.common.by import By

    from skclip_noise import ConsensusDetector, ImageEmbedder, make_noisy_labels
    from skclip_noise.datasets import load_digits_images
    from skclip_noise.report import label_issues_html

    X, y = load_digits_images()
    y_noisy, _ = make_noisy_labels(y, "symmetric", 0.4, random_state=0)
    features = ImageEmbedder("torchvision:mobilenet_v2", pretrained="offline", image_size=64).fit_transform(X)
    detector = ConsensusDetector(random_state=0).fit(features, y_noisy)
    page = label_issues_html(X, detector, os.path.join(folder, "digits.html"), max_items=60,
                             title="Suspected label errors: digits, 40 % noise")
    browser = driver(os.path.join(folder, "profile_shots"), 1280, 860)
    try:
        browser.get(f"file://{page}")
        keys(browser, "j", "a", "a", "g", "x", "7")
        browser.execute_script("document.querySelector('section.group').scrollIntoView()")
        browser.save_screenshot(os.path.join(out, "review.png"))
        browser.find_element(By.CSS_SELECTOR, '#filter-status option[value="decided"]').click()
        browser.save_screenshot(os.path.join(out, "review_decided.png"))
    finally:
        browser.quit()


def markdown(rows, args, seconds):
    lines = [
        "# The review page with thousands of suspects",
        "",
        f"`benchmarks/bench_review_page.py {' '.join(args)}`: {seconds:.0f} s on {platform.machine()}, headless "
        "Chromium (Debian's), 1280x900 window. Protocol in the script's docstring.",
        "",
        "| cards | page (MB) | thumbnail files (MB) | writing the report (s) | page ready (s) | 25 decisions by Selenium (s) "
        "| one decision and move, in the page (ms) | thumbnails loaded | JS heap (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['cards']:,} | {r['page_mb']:.1f} | {r['thumbnail_files_mb']:.1f} | {r['write_s']:.1f} | "
                     f"{r['load_s']:.2f} | {r['decide_25_s']:.2f} | {r['decision_ms']:.1f} | {r['images_loaded']:,} | "
                     f"{r['heap_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", default="200,1000,2000,10000")
    parser.add_argument("--screenshots", default=None, help="folder for review.png and review_decided.png")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(int(n), folder, rng) for n in args.cards.split(",")]
        if args.screenshots:
            screenshots(folder, args.screenshots)
    write_markdown(markdown(rows, sys.argv[1:] if argv is None else list(argv), time.perf_counter() - start), args.out)


if __name__ == "__main__":
    main()
