"""The review layer of the HTML report: decide on each card, keep the decisions, export them.

Everything is inline (no CDN, no server), so the page works from ``file://`` and
offline. Decisions live in the browser's ``localStorage`` under a key made from the
report's content (:func:`report_key`), so two reports never share decisions, and survive
a reload. "Export decisions" downloads ``decisions.csv`` in the format that
:func:`skclip_noise.apply_decisions` reads.
"""

from __future__ import annotations

import hashlib
import html
import json

import numpy as np

from .._shown_text import with_controls_shown

__all__ = ["PAGE_SIZE", "REVIEW_CSS", "REVIEW_SCRIPT", "report_key", "review_actions", "review_toolbar"]

#: Cards on screen at once. The browser lays out only these, so a decision costs the same
#: with 200 or 10,000 cards; the page is written with the later cards already hidden.
PAGE_SIZE = 200


def report_key(title, samples, given, *, paths=None, images=None):
    """A key for this report's decisions: the hash of its title and of each sample's id,
    given label and image (its file's path, or with ``images``, an array in the rows'
    order, its pixels), taken in the order of the sample ids, so that a report remade
    from a sorted table continues the same review and one on other images does not.

    Examples
    --------
    >>> report_key("t", [0, 1], ["cat", "dog"]) == report_key("t", [1, 0], ["dog", "cat"])
    True
    >>> report_key("t", [0, 1], ["cat", "dog"], paths=["a/0.png", "a/1.png"]) == report_key(
    ...     "t", [0, 1], ["cat", "dog"], paths=["b/0.png", "b/1.png"])
    False
    """
    ids, labels = [str(sample) for sample in samples], list(given)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    digest = hashlib.sha256(str(title).encode())
    for position in order:
        where = "" if paths is None else str(paths[position])
        digest.update(f"\x1f{ids[position]}\x1e{labels[position]}\x1d{where}".encode("utf-8", "surrogateescape"))
    if images is not None:  # the pixels, a block of rows at a time (no full reordered copy)
        order = np.asarray(order, dtype=np.int64)
        for start in range(0, len(order), 1024):
            digest.update(np.ascontiguousarray(images[order[start:start + 1024]]).tobytes())
    return digest.hexdigest()[:20]


def _options(values, *, everything):
    items = [f'<option value="">{html.escape(everything)}</option>']
    items += [f'<option value="{html.escape(v, quote=True)}">{html.escape(with_controls_shown(v))}</option>'
              for v in values]
    return "".join(items)


def _shown_label(value):
    """A class-list option's label where its value has hidden characters (shown escaped)."""
    shown = with_controls_shown(value)
    return "" if shown == value else f' label="{html.escape(shown, quote=True)}"'


def review_toolbar(classes, kinds):
    """The sticky toolbar: progress, filters, export and the key help; and the class list."""
    kind_filter = ""
    if kinds:
        kind_filter = (f'<label>Kind <select id="filter-kind">{_options(kinds, everything="all kinds")}'
                       "</select></label>")
    class_list = "".join(f'<option value="{html.escape(c, quote=True)}"{_shown_label(c)}></option>' for c in classes)
    return (
        '<div class="review" id="review">'
        '<span class="progress" id="review-progress" aria-live="polite"></span>'
        f'<label>Given class <select id="filter-class">{_options(classes, everything="all classes")}</select></label>'
        f"{kind_filter}"
        '<label>Show <select id="filter-status"><option value="">all</option>'
        '<option value="undecided">undecided</option><option value="decided">decided</option></select></label>'
        '<span class="pager"><button type="button" id="page-previous" title="previous page ([)" aria-label="previous page">&#9664;</button>'
        '<span id="page-info" role="status"></span><button type="button" id="page-next" title="next page (])" aria-label="next page">&#9654;</button></span>'
        '<button type="button" id="export-decisions">Export decisions</button>'
        '<span class="keys"><label><input type="checkbox" id="review-shortcuts" checked> keyboard shortcuts</label>: '
        '<kbd>j</kbd>/<kbd>k</kbd> next/previous &middot; <kbd>a</kbd> accept suggestion '
        "&middot; <kbd>g</kbd> keep given &middot; <kbd>x</kbd> drop &middot; <kbd>1</kbd>-<kbd>9</kbd>, "
        "<kbd>0</kbd> class by number &middot; <kbd>c</kbd> type a class &middot; <kbd>u</kbd> undo &middot; "
        "<kbd>[</kbd>/<kbd>]</kbd> previous/next page</span>"
        f'<datalist id="review-class-list">{class_list}</datalist>'
        f'<script type="application/json" id="review-classes">{_json(classes)}</script>'
        "</div>"
    )


def _json(value):
    """JSON safe inside a script element (no ``</script>`` can close it early)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def review_actions():
    """The buttons and the class box of one card."""
    return (
        '<div class="actions"><span class="decision" aria-live="polite"></span>'
        '<button type="button" data-action="accept" title="accept the suggestion (a)">Accept</button>'
        '<button type="button" data-action="keep" title="keep the given label (g)">Keep</button>'
        '<button type="button" data-action="drop" title="drop the image (x)">Drop</button>'
        '<input class="other" list="review-class-list" placeholder="other class (c)" aria-label="other class">'
        "</div>"
    )


REVIEW_CSS = """
.review { position: sticky; top: 0; z-index: 5; display: flex; flex-wrap: wrap; gap: 10px 16px;
  align-items: center; background: #ffffff; border-bottom: 1px solid #e3e6ea; padding: 10px 32px;
  font-size: 13px; color: #52606d; }
.review .progress { font-weight: 650; color: #1f2933; font-variant-numeric: tabular-nums; }
.review select, .review button, .actions button, .actions input { font: inherit; font-size: 13px; }
.review select { max-width: 16em; }
.review button, .actions button { border: 1px solid #cbd2d9; background: #f8fafc; border-radius: 6px;
  padding: 2px 10px; cursor: pointer; }
.review #export-decisions { background: #1f2933; color: #ffffff; border-color: #1f2933; }
.review .keys { flex-basis: 100%; color: #52606d; }
kbd { font: 11px ui-monospace, monospace; border: 1px solid #cbd2d9; border-bottom-width: 2px;
  border-radius: 4px; padding: 0 4px; background: #f8fafc; }
.actions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.actions .other { width: 100%; padding: 2px 6px; border: 1px solid #7b8794; border-radius: 6px; }
.actions .decision { flex-basis: 100%; font-size: 12px; font-weight: 650; min-height: 1em; }
.card[hidden], .group[hidden] { display: none !important; }
.review .pager { display: inline-flex; gap: 6px; align-items: center; font-variant-numeric: tabular-nums; }
.card { content-visibility: auto; contain-intrinsic-size: auto 360px; scroll-margin: 90px; }
.card.current { outline: 3px solid #2563eb; outline-offset: 2px; }
.card:focus { outline: none; }
.card.current:focus { outline: 3px solid #2563eb; }
.card.decided-keep .decision { color: #067647; }
.card.decided-relabel .decision { color: #1d4ed8; }
.card.decided-drop .decision { color: #b42318; }
.card.decided-drop .thumb img { opacity: 0.35; }
.card.decided-keep, .card.decided-relabel, .card.decided-drop { border-color: #9aa5b1; }
@media (max-width: 600px), (max-height: 600px) {
  .review { position: static; }
}
"""

REVIEW_SCRIPT = r"""
(function () {
  "use strict";
  // Everything within this report's own element: in a notebook, several reports (and the
  // notebook itself) share one document, its ids and its key presses.
  var script = document.currentScript;
  var root = (script && script.closest(".skclip-report")) || document.querySelector(".skclip-report");
  function byId(id) { return root.querySelector("#" + id); }
  var storageKey = "skclip-noise-review:" + root.getAttribute("data-report");
  var classes = JSON.parse(byId("review-classes").textContent);
  var HIDDEN = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  var PLAIN_NUMBER = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
  var cards = Array.prototype.slice.call(root.querySelectorAll("article.card[data-sample]"));
  var progress = byId("review-progress");
  var filterClass = byId("filter-class");
  var filterKind = byId("filter-kind");
  var filterStatus = byId("filter-status");
  var decisions = {};
  try { decisions = JSON.parse(window.localStorage.getItem(storageKey) || "{}") || {}; } catch (e) { decisions = {}; }
  var current = -1;
  var PAGE = Number(root.getAttribute("data-page-size")) || 200;  // cards on screen at once
  var page = 0;
  var matching = [];  // positions (in cards) of the cards the filters let through
  var pageInfo = byId("page-info");
  var previousPage = byId("page-previous");
  var nextPage = byId("page-next");
  var shortcuts = byId("review-shortcuts");  // single-key shortcuts can be turned off (WCAG 2.1.4)
  var SHORTCUTS_KEY = "skclip-noise-review-shortcuts";
  try { shortcuts.checked = window.localStorage.getItem(SHORTCUTS_KEY) !== "off"; } catch (e) { /* private mode */ }
  shortcuts.addEventListener("change", function () {
    try { window.localStorage.setItem(SHORTCUTS_KEY, shortcuts.checked ? "on" : "off"); } catch (e) { /* private mode */ }
  });

  function save() {
    try { window.localStorage.setItem(storageKey, JSON.stringify(decisions)); } catch (e) { /* private mode */ }
  }
  function show(card) {
    var decided = decisions[card.getAttribute("data-sample")];
    card.classList.remove("decided-keep", "decided-relabel", "decided-drop");
    var text = "";
    if (decided) {
      card.classList.add("decided-" + decided.decision);
      text = decided.decision === "relabel" ? "relabel \u2192 " + shown(decided.label)
        : decided.decision === "keep" ? "keep " + shown(decided.label) : "drop";
    }
    card.querySelector(".decision").textContent = text;
    card.setAttribute("data-decision", decided ? decided.decision : "");
  }
  function count() {
    var n = 0;
    cards.forEach(function (card) { if (decisions[card.getAttribute("data-sample")]) { n += 1; } });
    return n;
  }
  var nDecided = count();
  var tally = byId("disputed-tally");
  var disputed = cards.filter(function (card) { return card.getAttribute("data-kind") === "disputed"; });
  function showTally() {  // the disputed pairs checked so far, and what they decide
    var checked = 0, wrong = 0;
    disputed.forEach(function (card) {
      var decided = decisions[card.getAttribute("data-sample")];
      if (decided) { checked += 1; if (decided.decision !== "keep") { wrong += 1; } }
    });
    var verdict = wrong > disputed.length / 2
      ? " More than half are wrong: flag every disputed pair (--flag-disagreement)."
      : checked - wrong >= disputed.length / 2 ? " At most half can be wrong: keep the default." : "";
    tally.textContent = checked + " of " + disputed.length + " checked, " + wrong + " wrong." + verdict;
  }
  function showCount() {
    progress.textContent = nDecided + " of " + cards.length + " decided";
    if (tally) { showTally(); }
  }
  function passes(card) {
    var cls = filterClass.value, kind = filterKind ? filterKind.value : "", status = filterStatus.value;
    var decided = Boolean(decisions[card.getAttribute("data-sample")]);
    return !((cls && card.getAttribute("data-given") !== cls)
      || (kind && card.getAttribute("data-kind") !== kind)
      || (status === "decided" && !decided) || (status === "undecided" && decided));
  }
  function layout() {  // show the current page of the matching cards, writing only what changes
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = Math.max(0, Math.min(page, pages - 1));
    var onPage = new Set(matching.slice(page * PAGE, (page + 1) * PAGE));
    var changed = false;
    cards.forEach(function (card, index) {
      var hidden = !onPage.has(index);
      if (card.hidden !== hidden) { card.hidden = hidden; changed = true; }
    });
    if (changed) {
      root.querySelectorAll("section.group").forEach(function (group) {
        var hidden = !group.querySelector("article.card:not([hidden])");
        if (group.hidden !== hidden) { group.hidden = hidden; }
      });
    }
    pageInfo.textContent = matching.length ? "page " + (page + 1) + " of " + pages + " (" + matching.length + " cards)"
      : "no card matches";
    previousPage.disabled = page === 0;
    nextPage.disabled = page >= pages - 1;
  }
  function filter() {
    matching = [];
    cards.forEach(function (card, index) { if (passes(card)) { matching.push(index); } });
    layout();
  }
  function refilter() {  // after a decision: only the status filter depends on decisions
    if (filterStatus.value) { filter(); }
  }
  function focusCard(index, scroll, keepFocus) {  // scroll: false where the card is under the pointer
    if (current >= 0 && cards[current]) { cards[current].classList.remove("current"); }
    current = index;
    if (index >= 0) {
      var position = matching.indexOf(index);
      if (position >= 0 && Math.floor(position / PAGE) !== page) { page = Math.floor(position / PAGE); layout(); }
      cards[index].classList.add("current");
      // keyboard focus follows the current card, unless it is already on a control of it
      if (!keepFocus && !cards[index].contains(document.activeElement)) { cards[index].focus({preventScroll: true}); }
      if (scroll !== false) { cards[index].scrollIntoView({block: "nearest"}); }
    }
  }
  function move(step) {
    if (!matching.length) { return; }
    var at = matching.indexOf(current);
    if (at < 0) {  // no current card, or it was filtered out: start from where it was
      at = step > 0 ? matching.length - 1 : matching.length;
      for (var i = 0; i < matching.length; i += 1) {
        if (matching[i] > current) { at = i - (step > 0 ? 1 : 0); break; }
      }
    }
    focusCard(matching[Math.max(0, Math.min(matching.length - 1, at + step))]);
  }
  function turn(step) {
    page += step;
    layout();
    var first = matching[page * PAGE];
    var pager = document.activeElement;  // a pager button pressed again turns again: focus stays on it
    var onPager = (pager === previousPage || pager === nextPage) && !pager.disabled;
    if (first !== undefined) { focusCard(first, true, onPager); }
  }
  function decide(card, decision, label) {
    var given = card.getAttribute("data-given");
    if (decision === "relabel" && label === given) { decision = "keep"; }
    if (decision === "keep") { label = given; }
    if (decision === "drop") { label = ""; }
    var sample = card.getAttribute("data-sample");
    if (!decisions[sample]) { nDecided += 1; }
    decisions[sample] = {given: given, decision: decision, label: label};
    save(); show(card); showCount(); refilter();
  }
  function accept(card) {
    var suggested = card.getAttribute("data-suggested");
    if (suggested) { decide(card, "relabel", suggested); } else { decide(card, "drop", ""); }
  }
  function undo(card) {
    var sample = card.getAttribute("data-sample");
    if (decisions[sample]) { nDecided -= 1; }
    delete decisions[sample];
    save(); show(card); showCount(); refilter();
  }
  function shown(value) {  // as _shown_text.with_controls_shown: hidden characters as escapes
    return String(value).replace(HIDDEN, function (c) {
      var code = c.charCodeAt(0).toString(16);
      return c.charCodeAt(0) < 256 ? "\\x" + ("0" + code).slice(-2) : "\\u" + ("000" + code).slice(-4);
    });
  }
  function quote(value) {  // as _csv.spreadsheet_safe: no cell runs as a formula in a spreadsheet
    value = String(value);
    if (/^'[=+\-@\t\r']/.test(value) || (/^[=+\-@\t\r]/.test(value) && !PLAIN_NUMBER.test(value))) {
      value = "'" + value;
    }
    return /[",\n\r]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }
  function exportDecisions() {
    var withPaths = cards.length > 0 && cards[0].hasAttribute("data-path");
    var lines = [withPaths ? "sample,given_label,decision,label,path" : "sample,given_label,decision,label"];
    cards.forEach(function (card) {
      var decided = decisions[card.getAttribute("data-sample")];
      if (decided) {
        var row = [card.getAttribute("data-sample"), decided.given, decided.decision, decided.label];
        if (withPaths) { row.push(card.getAttribute("data-path")); }
        lines.push(row.map(quote).join(","));
      }
    });
    // A byte-order mark first: Excel then opens the file as UTF-8 ("café", not "cafÃ©").
    var blob = new Blob(["\ufeff" + lines.join("\n") + "\n"], {type: "text/csv;charset=utf-8"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "decisions.csv";
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }
  function typed(card, input) {
    var value = input.value.trim();
    if (classes.indexOf(value) < 0) { input.setCustomValidity("not a class"); input.reportValidity(); return false; }
    input.setCustomValidity("");
    decide(card, "relabel", value);
    input.value = "";
    return true;
  }

  cards.forEach(function (card, index) {
    if (decisions[card.getAttribute("data-sample")]) { show(card); }  // undecided cards are drawn so already
    card.addEventListener("click", function (event) {
      focusCard(index);
      var action = event.target.getAttribute && event.target.getAttribute("data-action");
      if (action === "accept") { accept(card); }
      if (action === "keep") { decide(card, "keep", ""); }
      if (action === "drop") { decide(card, "drop", ""); }
      if (action && card.hidden) { move(1); }  // the status filter hid it: focus goes on, not to the page
    });
    // a click's focus comes before its mouseup: scrolling then would move the card from under the pointer
    card.addEventListener("focusin", function () { if (current !== index) { focusCard(index, false); } });
    var input = card.querySelector("input.other");
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && typed(card, input)) {
        move(1);
        if (cards[current] === card && !card.hidden) { card.focus(); }  // the last card: out of the box, on it
      }
      if (event.key === "Escape") { input.value = ""; card.focus(); }  // leaves without relabelling
    });
    input.addEventListener("change", function () {
      if (classes.indexOf(input.value.trim()) >= 0 && typed(card, input) && card.hidden) { move(1); }
    });
  });
  [filterClass, filterKind, filterStatus].forEach(function (select) {
    if (select) { select.addEventListener("change", function () { page = 0; filter(); }); }
  });
  previousPage.addEventListener("click", function () { turn(-1); });
  nextPage.addEventListener("click", function () { turn(1); });
  byId("export-decisions").addEventListener("click", exportDecisions);
  function aimedHere(target) {  // a key for this report: typed in it, or with nothing focused in a page of one report
    if (root.contains(target)) { return true; }
    return (target === document.body || target === document.documentElement)
      && document.querySelectorAll(".skclip-report").length === 1;
  }
  function onKey(event) {
    if (!root.isConnected) { document.removeEventListener("keydown", onKey); return; }  // its cell was run again
    var target = event.target, tag = target.tagName;
    if (!shortcuts.checked || tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || target.isContentEditable
        || event.ctrlKey || event.metaKey || event.altKey || !aimedHere(target)) { return; }
    var key = event.key, card = current >= 0 ? cards[current] : null;
    if (key === "j" || key === "ArrowRight" || key === "ArrowDown") { move(1); }
    else if (key === "k" || key === "ArrowLeft" || key === "ArrowUp") { move(-1); }
    else if (key === "]" || key === "PageDown") { turn(1); }
    else if (key === "[" || key === "PageUp") { turn(-1); }
    else if (!card) { if ("agxu0123456789c".indexOf(key) >= 0) { move(1); } else { return; } }
    else if (key === "a") { accept(card); move(1); }
    else if (key === "g") { decide(card, "keep", ""); move(1); }
    else if (key === "x" || key === "Delete") { decide(card, "drop", ""); move(1); }
    else if (key === "u" || key === "Backspace") { undo(card); if (card.hidden) { move(1); } }
    else if (/^[0-9]$/.test(key)) {
      var chosen = classes[key === "0" ? 9 : Number(key) - 1];
      if (chosen === undefined) { return; }
      decide(card, "relabel", chosen); move(1);
    }
    else if (key === "c" || key === "/") { card.querySelector("input.other").focus(); }
    else { return; }
    event.preventDefault();
  }
  document.addEventListener("keydown", onKey);
  showCount();
  filter();
})();
"""
