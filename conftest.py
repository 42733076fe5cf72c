"""pytest plugin of the audit: options, one test per spec and per claim, tiers, verdict outcomes.

    pytest                               fast tier: every spec validates, builds, and its parameter claims hold
    pytest -k iteration9                 only the iteration-9 specs (test ids carry slug/name)
    pytest --smoke   (or -m smoke)       + every spec trains a few batches on a small subset
    pytest --reproduce (or -m reproduce) + full documented training, N seeds, every claim judged

A claim's pytest outcome follows the verdict its spec expects: reproduced ->
passed; refuted-above, refuted-below or inconclusive -> xfailed (the suite fails if it starts to
pass); unverifiable -> skipped with its reason; any other verdict -> failed.
Comparisons alike: supported passes, contradicted/negligible/inconclusive xfail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.claims import band_text
from harness.pytest_options import PLUGIN_NAME, add_options, check_path_options, claim_test_id
from harness.specs import SpecError, default_specs_dir, discover, load_spec
from harness.terminal import safe
from harness.verdict import Verdict

PROJECT = Path(__file__).resolve().parent  # the hooks below touch this project's tests only

TIERS = ("smoke", "reproduce")
# markers whose tests run only when named in -m: `browser` needs a program the suite does not; `slow` holds the
# tests that train, start subprocesses or simulate at length (README's test command answers in about a minute;
# .ci/run runs `pytest -m slow -n 2` too)
OPT_IN = ("browser", "slow")


def pytest_addoption(parser, pluginmanager):
    # Installed, the options come from the entry point (see harness/pytest_options.py).
    if not pluginmanager.has_plugin(PLUGIN_NAME):
        add_options(parser)


def results_dir(config) -> Path:
    return Path(config.getoption("results") or config.rootpath / "results")


def _tier_enabled(config, tier: str) -> bool:
    return bool(config.getoption(tier) or tier in (config.getoption("markexpr") or ""))


def pytest_configure(config):
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        check_path_options(config)  # option values themselves are checked as they are parsed
    check_folders_and_data(config)
    config.addinivalue_line("markers", "smoke: trains every spec for a few batches (--smoke or -m smoke)")
    config.addinivalue_line("markers", "reproduce: full documented training, claims judged (--reproduce)")
    if config.pluginmanager.hasplugin("xdist"):
        from harness.xdist_support import SchedulerPlugin

        config.pluginmanager.register(SchedulerPlugin(), "audit-spec-scheduling")


def check_folders_and_data(config) -> None:
    """Before anything trains: results and cache folders writable, MNIST readable and verified (fetched into the
    cache folder once when no root is given). A problem is a usage error with its message, not a traceback."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    reproduce, smoke = _tier_enabled(config, "reproduce"), _tier_enabled(config, "smoke")
    if not (reproduce or smoke):
        return
    from harness.cache import default_cache_dir
    from harness.data import DataError, load_mnist, output_folders

    try:
        load_mnist(config.getoption("data_root"), fetch=True)  # first: bad data leaves nothing behind
        if reproduce:
            output_folders(results_dir(config), config.getoption("audit_cache") or default_cache_dir())
    except DataError as exc:
        raise pytest.UsageError(str(exc)) from None


# --------------------------------------------------------------------------- parametrization

def _spec_entries(config):
    """Every spec file, loaded; a spec that fails to load is kept as its SpecError (its test fails)."""
    if not hasattr(config, "_audit_specs"):
        root = config.getoption("specs") or default_specs_dir()
        entries = []
        for path in discover(root):
            try:
                entries.append(load_spec(path))
            except SpecError as exc:
                entries.append(exc)
        config._audit_specs = _this_shard(config, entries)
    return config._audit_specs


def _this_shard(config, entries):
    """`--shard K/N`: only the specs dealt to shard K (a spec that fails to load goes to shard 1)."""
    if not config.getoption("shard"):
        return entries
    from harness.sharding import assign

    index, count = config.getoption("shard")  # (K, N), checked as the command line was parsed
    shards = assign([e for e in entries if not isinstance(e, SpecError)], count)
    return [e for e in entries if shards.get(_entry_id(e), 1) == index]


def _entry_id(entry) -> str:
    if isinstance(entry, SpecError):
        return f"{entry.file.parent.name}/{entry.file.stem}"
    return entry.id


def pytest_generate_tests(metafunc):
    entries = _spec_entries(metafunc.config)
    loaded = [e for e in entries if not isinstance(e, SpecError)]
    names = metafunc.fixturenames
    if "spec_entry" in names:
        metafunc.parametrize("spec_entry", entries, ids=[_entry_id(e) for e in entries])
    if "spec" in names:
        metafunc.parametrize("spec", loaded, ids=[s.id for s in loaded])
    if "untrained_claim" in names:  # judged from the spec alone (parameter counts; qualitative: skipped)
        pairs = [(s, c) for s in loaded for c in s.spec.claims if not c.trained]
        metafunc.parametrize("untrained_claim", pairs, ids=[claim_test_id(s.id, c.claim_id) for s, c in pairs])
    if "trained_claim" in names:
        pairs = [(s, c) for s in loaded for c in s.spec.claims if c.trained]
        # ids `slug/name:claim`: harness.xdist_support keeps a spec's claims on one worker
        metafunc.parametrize("trained_claim", pairs, ids=[claim_test_id(s.id, c.claim_id) for s, c in pairs])


def pytest_collection_modifyitems(config, items):
    """Tier tests of this project run only when their tier is asked for (--smoke, --reproduce, or named in -m);
    opt-in tests (browser, slow) only when named in -m."""
    keep, drop = [], []
    for item in items:
        ours = Path(str(item.path)).is_relative_to(PROJECT)
        tiers = [t for t in TIERS if ours and item.get_closest_marker(t)]
        opt_in = [m for m in OPT_IN if ours and item.get_closest_marker(m)]
        wanted = all(_tier_enabled(config, t) for t in tiers) and all(
            m in (config.getoption("markexpr") or "") for m in opt_in)
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    items.sort(key=_judged_after_others)  # stable: the rest keeps its order


def _judged_after_others(item) -> bool:
    """A comparison is judged from both specs' runs: after the session's other claims."""
    claim = getattr(getattr(item, "callspec", None), "params", {}).get("trained_claim", (None, None))[1]
    return getattr(claim, "judged_after_others", False)


def pytest_collection_finish(session):
    _announce_plan(session.config, [item.nodeid for item in session.items], workers=1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    _announce_plan(node.config, ids, workers=len(node.config.option.tx or ()) or 1)


def _announce_plan(config, nodeids, workers):
    """`--reproduce`: FLOPs and estimated wall time of what will train, once, before it does (harness/plan.py)."""
    if hasattr(config, "workerinput") or getattr(config, "_audit_planned", False) or not _tier_enabled(config, "reproduce"):
        return
    config._audit_planned = True
    from harness.plan import announce

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    specs = [e for e in _spec_entries(config) if not isinstance(e, SpecError)]
    write = reporter.write_line if reporter else print
    progress = announce(config, specs, nodeids, workers, results_dir(config), write)
    if progress is not None:
        config.pluginmanager.register(_AuditProgress(progress, write), "audit-progress")


class _AuditProgress:
    """An ETA line as each planned spec's first claim is judged (the controller sees every worker's reports)."""

    def __init__(self, progress, write):
        self.progress, self.write = progress, write

    def pytest_runtest_logreport(self, report):
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == "audit_claim":
                from harness.plan import trained_by

                line = self.progress.judged(*trained_by(json.loads(value)))
                if line:
                    self.write(line)


# --------------------------------------------------------------------------- the session's audit

@pytest.fixture(scope="session")
def audit(pytestconfig):
    from harness.audit import Audit, progress_wanted, resolve_device, threads_for_worker
    from harness.cache import ResultsCache

    threads_for_worker()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    cache_dir = pytestconfig.getoption("audit_cache")
    return Audit(
        device=resolve_device(pytestconfig.getoption("device"), worker),
        data_root=pytestconfig.getoption("data_root"),
        seeds=pytestconfig.getoption("seeds"),
        max_seeds=pytestconfig.getoption("max_seeds"),
        cache=ResultsCache(Path(cache_dir) if cache_dir else None),
        refresh=pytestconfig.getoption("no_cache"),
        results_dir=results_dir(pytestconfig),
        timeout=pytestconfig.getoption("run_timeout"),
        stack=pytestconfig.getoption("stack"),
        train_subset=pytestconfig.getoption("train_subset"),
        test_subset=pytestconfig.getoption("test_subset"),
        progress=progress_wanted(),
    )


@pytest.fixture
def expect_verdict(request):
    """Turn a ClaimResult into the test's outcome, and report it for the summary table."""

    def check(spec_id: str, result):
        row = {"spec": spec_id, **result.to_json(), "measured": result.measured_text()}
        request.node.user_properties.append(("audit_claim", json.dumps(row)))
        if result.expected is Verdict.UNVERIFIABLE:
            pytest.skip(safe(f"unverifiable: {result.detail}"))
        if result.verdict is Verdict.NOT_JUDGED:  # a comparison whose other spec has no run yet
            pytest.skip(safe(f"{spec_id}:{result.claim_id}: {result.detail}"))
        if result.verdict == result.expected and result.verdict.passing:
            return
        message = (f"{spec_id}:{result.claim_id}: claimed {result.claimed}, band {band_text(result.band)}, "
                   f"measured {result.measured_text()} ({result.verdict})" + (f"; {result.detail}" if result.detail else ""))
        message = safe(message)  # claimed statements and details come from specs: controls escaped
        if result.verdict != result.expected:
            pytest.fail(f"expected {result.expected}, got {result.verdict}: {message}", pytrace=False)
        pytest.xfail(f"{result.verdict}, as recorded: {message}")

    return check


# --------------------------------------------------------------------------- the summary table

_collected: list[dict] = []  # claim rows from this process's tests, or from its xdist workers' reports


def pytest_runtest_logreport(report):
    if report.when == "call":
        _collected.extend(json.loads(v) for k, v in report.user_properties if k == "audit_claim")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _collected:
        return
    rows = [("spec", "claim", "claimed", "band", "measured", "verdict", "")]
    for c in sorted(_collected, key=lambda c: (c["spec"], c["claim_id"])):
        mark = "ok" if c["verdict"] == c["expected"] else f"EXPECTED {c['expected'].upper()}"
        rows.append((safe(c["spec"]), safe(c["claim_id"]), safe(c["claimed"][:28]), band_text(c["band"]),
                     c["measured"], c["verdict"], mark))  # spec strings: controls escaped (harness.terminal)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    tr = terminalreporter
    tr.write_sep("-", f"audit: {len(rows) - 1} claims")
    for i, row in enumerate(rows):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        tr.write_line(line, bold=i == 0, red="EXPECTED" in row[-1])
    tr.write_line("verdicts: " + tally(_collected))


def tally(rows: list[dict]) -> str:
    """Each verdict's count, the two sides of a refutation apart ('2 refuted-above (README above the runs)')."""
    counts: dict[str, int] = {}
    for c in rows:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    text = ", ".join(f"{n} {v}" + (f" ({Verdict(v).side})" if Verdict(v).side else "")
                     for v, n in sorted(counts.items()))
    flagged = sum(1 for c in rows if c.get("baseline_mismatch"))
    return text + (f"; {flagged} lesson(s) on a baseline that does not reproduce its README" if flagged else "")


def pytest_sessionfinish(session, exitstatus):
    """Regenerate REPORT.md from all records once reproductions ran (controller only)."""
    config = session.config
    if hasattr(config, "workerinput") or config.getoption("no_report"):
        return
    if not _tier_enabled(config, "reproduce") or not _collected:
        return
    from harness.report_write import write_report

    write_report(results_dir(config), specs_root=config.getoption("specs"))
