"""The inline style sheet of the HTML page of :func:`~skclip_noise.report.label_issues_html`.

Kept apart from the page's markup; the page embeds it, so it loads nothing. Every rule
applies inside the report's root element only (:func:`scoped`), so a page shown in a
notebook's output cell, which shares the notebook's document, restyles nothing else.
"""

import re

__all__ = ["REPORT_ROOT", "_CSS", "scoped"]

#: The class of the element that holds a whole report (its markup, toolbar and script).
REPORT_ROOT = "skclip-report"


def scoped(css):
    """``css`` with every selector inside the report's root (``body`` and ``:root`` become
    the root itself), those of the rules an at-rule such as ``@media`` holds too.

    Examples
    --------
    >>> print(scoped("body { margin: 0; }\\n.card, kbd { color: red; }"))
    .skclip-report { margin: 0; }
    .skclip-report .card, .skclip-report kbd { color: red; }
    >>> print(scoped("@media (max-width: 600px) {\\n  .review { position: static; }\\n}"))
    @media (max-width: 600px) {
      .skclip-report .review { position: static; }
    }
    """
    root = f".{REPORT_ROOT}"

    def selectors(match):
        scoped_ = []
        for selector in (part.strip() for part in match.group(2).split(",")):
            if selector in (":root", "body"):
                scoped_.append(root)
            elif selector == "*":
                scoped_ += [root, f"{root} *"]
            else:
                scoped_.append(f"{root} {selector}")
        return match.group(1) + ", ".join(scoped_) + " {"

    return re.sub(r"(?m)^([ \t]*)([^\s{}@][^{}]*?)\s*\{", selectors, css)


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1f2933;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
  font-size: 15px; line-height: 1.45; }
header { background: #ffffff; border-bottom: 1px solid #e3e6ea; padding: 22px 32px 18px; }
h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
.sub { margin: 0 0 16px; color: #52606d; font-size: 14px; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; }
.stat { background: #f4f5f7; border: 1px solid #e3e6ea; border-radius: 10px;
  padding: 8px 16px; min-width: 120px; }
.stat b { display: block; font-size: 22px; font-weight: 650;
  font-variant-numeric: tabular-nums; }
.stat span { color: #52606d; font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.05em; }
.stat.alert b { color: #b42318; }
.note { margin: 14px 0 0; color: #52606d; font-size: 13px; }
main { padding: 24px 32px 40px; }
.grid { display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fill, minmax(var(--card-min), 1fr)); }
.card { background: #ffffff; border: 1px solid #e3e6ea; border-radius: 12px;
  overflow: hidden; display: flex; flex-direction: column;
  box-shadow: 0 1px 2px rgba(16, 24, 40, 0.06); }
.card.kept { background: #fafbfc; }
.card.kept .thumb img { opacity: 0.6; }
.group h2 { margin: 20px 0 2px; font-size: 17px; font-weight: 650; }
.group .count { color: #52606d; font-weight: 500; }
.group .advice { margin: 0 0 10px; color: #4b5563; font-size: 13px; }
.group .tally { margin: 0 0 10px; font-size: 13px; font-weight: 600; }
.thumb { display: flex; align-items: center; justify-content: center;
  height: calc(var(--thumb) + 24px); background: #e9ecf0;
  border-bottom: 1px solid #e3e6ea; position: relative; }
.thumb img { image-rendering: pixelated; image-rendering: crisp-edges;
  max-width: 100%; height: auto; border-radius: 3px;
  box-shadow: 0 0 0 1px rgba(0, 0, 0, 0.08); }
.thumb .missing { color: #52606d; font-size: 12px; padding: 8px; text-align: center; }
.rank { position: absolute; top: 8px; left: 8px; background: rgba(255, 255, 255, 0.92);
  color: #52606d; border-radius: 999px; padding: 0 8px; font-size: 12px;
  font-variant-numeric: tabular-nums; }
.body { padding: 12px 14px 12px; display: flex; flex-direction: column; gap: 10px; flex: 1; }
.labels { display: grid; grid-template-columns: auto minmax(0, 1fr); align-items: center;
  gap: 6px 10px; }
.labels .k { font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em;
  color: #52606d; }
.labels .v { padding: 2px 8px; border-radius: 6px; font-weight: 650; font-size: 15px;
  line-height: 1.3; min-width: 0; justify-self: start; max-width: 100%; }
.labels .v span { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2;
  overflow: hidden; overflow-wrap: anywhere; }
.v.given { background: #fdecea; color: #b42318; border: 1px solid #f7c6c0; }
.v.suggested { background: #e7f6ec; color: #067647; border: 1px solid #b7e4c7; }
.score { display: flex; align-items: center; gap: 8px; font-size: 13px; color: #52606d; }
.bar { flex: 1; height: 6px; background: #edf0f3; border-radius: 999px; overflow: hidden; }
.bar span { display: block; height: 100%; border-radius: 999px; }
.score b { color: #1f2933; font-variant-numeric: tabular-nums; }
.meta { display: flex; justify-content: space-between; gap: 8px; font-size: 12px;
  color: #52606d; border-top: 1px solid #f0f2f4; padding-top: 8px; min-width: 0;
  margin-top: auto; }
.meta > span:first-child { white-space: nowrap; flex-shrink: 0; }
.meta .file { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
.tag { position: absolute; top: 8px; right: 8px; font-size: 11px; color: #52606d;
  background: rgba(255, 255, 255, 0.92); border-radius: 999px; padding: 0 8px; }
.empty { background: #ffffff; border: 1px dashed #cbd2d9; border-radius: 12px;
  padding: 40px; text-align: center; color: #52606d; }
footer { padding: 0 32px 28px; color: #52606d; font-size: 12px; }
.labels .conf { font-size: 13px; color: #067647; font-variant-numeric: tabular-nums; }
.transition { background: #ffffff; border: 1px solid #e3e6ea; border-radius: 12px;
  padding: 16px 20px; margin: 0 0 24px; overflow-x: auto; }
.transition h2 { margin: 0 0 4px; font-size: 17px; font-weight: 650; }
table.heatmap { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
.heatmap caption { caption-side: top; text-align: left; color: #52606d; padding: 0 0 10px; }
.heatmap th { font-weight: 600; color: #52606d; padding: 4px 8px; white-space: nowrap; }
.heatmap th[scope="row"] { text-align: right; }
.heatmap .corner { font-weight: 400; font-size: 11px; color: #52606d; }
.heatmap td { min-width: 46px; height: 32px; padding: 4px 6px; text-align: center;
  border: 1px solid #ffffff; }
.heatmap td.diag { box-shadow: inset 0 0 0 2px #1f2933; }
"""
