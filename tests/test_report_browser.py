"""report.html in a real browser (headless Chromium): every image loads, every link lands, the summary's counts
are the records' counts, the filter hides other READMEs. Opt-in: `pytest -m browser` (.ci/run installs Chromium).

The page is regenerated from the committed records into a temporary folder; a copy of it with a probe script
appended is loaded with `chromium --headless --dump-dom`, and the probe writes what it found into the DOM.
"""

import html
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harness.report import anchor
from harness.report_verdicts import style
from harness.report_write import write_report

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

PROBE = """<script>
window.addEventListener('load', function () {
  var out = {};
  var imgs = Array.prototype.slice.call(document.images);
  out.images = imgs.length;
  out.broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                   .map(function (i) { return i.getAttribute('src'); });
  out.dangling = Array.prototype.slice.call(document.querySelectorAll('a[href^="#"]'))
                   .map(function (a) { return a.getAttribute('href').slice(1); })
                   .filter(function (id) { return !document.getElementById(id); });
  out.links = document.querySelectorAll('a[href^="#"]').length;
  out.counts = Array.prototype.slice.call(document.querySelectorAll('#summary-table td[data-count]'))
                   .map(function (td) { return [td.parentNode.getAttribute('data-readme'), td.getAttribute('data-group'),
                                                td.getAttribute('data-column'), td.textContent]; });
  out.filters = !document.getElementById('filters').hidden;
  var select = document.getElementById('f-readme');
  select.value = select.options[1].value;
  select.dispatchEvent(new Event('change', {bubbles: true}));
  out.chosen = select.value;
  out.shown = Array.prototype.slice.call(document.querySelectorAll('section[data-readme]'))
                   .filter(function (s) { return !s.hidden; }).map(function (s) { return s.id; });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium); the browser test needs one")
    results = tmp_path_factory.mktemp("results")
    shutil.copytree(ROOT / "results" / "records", results / "records")
    write_report(results, specs_root=ROOT / "specs")
    page = (results / "report.html").read_text()
    (results / "probe.html").write_text(page + PROBE)  # beside the page: the plots' relative paths hold
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                          "--virtual-time-budget=15000", "--dump-dom", (results / "probe.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; chromium printed {dom[-2000:]!r}"
    return results, json.loads(html.unescape(found.group(1)))


def test_every_image_loads_and_every_link_lands(probed):
    results, out = probed
    assert out["images"] == len(list((results / "plots").glob("*.png"))) > 10
    assert out["broken"] == []
    assert out["links"] >= 40 and out["dangling"] == []  # summary, contents: every README and spec


def test_the_summary_shows_the_records_counts(probed):
    results, out = probed
    summary = json.loads((results / "summary.json").read_text())
    expected = Counter()
    for slug, readme in summary["readmes"].items():
        for claim in readme["claims"].values():
            expected[(anchor(slug), claim["group"], style(claim["verdict"]).column)] += 1
    shown = {(slug, group, column): int(text.split(" ")[0]) for slug, group, column, text in out["counts"]}
    assert {k: v for k, v in shown.items() if v} == dict(expected)


def test_the_filter_shows_one_readme(probed):
    _, out = probed
    assert out["filters"]  # scripts ran: the filter is shown
    assert out["shown"] == [out["chosen"]]
