"""`python -m harness run | report | download`: training and reporting from the shell."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from harness.option_types import add_shared
from harness.verdict import Verdict


def add_commands(sub) -> None:
    p = sub.add_parser("run", help="train specs (all seeds together), judge claims, write records")
    p.add_argument("specs", nargs="+", help="spec ids (sub20k/iteration9) or paths")
    add_shared(p.add_argument, "--seeds", "--max-seeds", "--device", "--data-root", "--no-cache", "--audit-cache")
    p.add_argument("--results", type=Path, default=Path("results"), help="where records go")
    add_shared(p.add_argument, "--run-timeout", "--stack", "--train-subset", "--test-subset", run_timeout="timeout")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="write results/REPORT.md and report.html from the records")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--specs", type=Path, default=None, help="spec folder (default: specs/)")
    p.add_argument("--no-html", action="store_true")
    p.add_argument("--against", type=Path, default=None, metavar="OLD_RESULTS_DIR",
                   help="list every claim and lesson whose verdict, n or interval changed since these results")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("expect", help="claims whose measured verdict differs from the spec's `expect`")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--device-kind", default=None, help="only records of this device kind (cpu, cuda)")
    p.add_argument("--write", action="store_true", help="rewrite those `expect:` values in the spec files")
    p.set_defaults(func=cmd_expect)

    p = sub.add_parser("download", help="fetch MNIST over HTTP into DIR and verify it (SHA256 of each file)")
    p.add_argument("target", type=Path, metavar="DIR")
    p.add_argument("--mirror", action="append", default=None, metavar="URL",
                   help="base URL holding the four .gz files (repeatable; default: the public mirrors torchvision uses)")
    p.set_defaults(func=cmd_download)


def cmd_run(args) -> int:
    from harness.audit import Audit, progress_wanted, resolve_device
    from harness.cache import ResultsCache
    from harness.data import DataError, output_folders
    from harness.records import RecordKeptWarning
    from harness.specs import SpecError, find_spec
    from harness.terminal import safe

    try:  # before anything trains: a read-only folder is a message, not a lost run
        output_folders(args.results, ResultsCache(args.audit_cache).root)
    except DataError as exc:
        print(exc, file=sys.stderr)
        return 2
    warnings.simplefilter("ignore", RecordKeptWarning)  # printed below, once, as a message
    audit = Audit(device=resolve_device(args.device), data_root=args.data_root, seeds=args.seeds, max_seeds=args.max_seeds,
                  cache=ResultsCache(args.audit_cache), refresh=args.no_cache, results_dir=args.results,
                  timeout=args.timeout, progress=progress_wanted(), stack=args.stack,
                  train_subset=args.train_subset, test_subset=args.test_subset)
    bad = 0
    for ref in args.specs:
        try:  # a bad spec fails itself; the others still run
            loaded = find_spec(ref)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            bad += 1
            continue
        try:
            run, results = audit.reproduce(loaded)
            if audit.adaptive:  # an undecided lesson grows both its specs, as under pytest
                needs = {c.claim_id for c in loaded.spec.claims if c.runs_needed_of(loaded.id)}
                results = [audit.judged(loaded, r.claim_id) if r.claim_id in needs else r for r in results]
                run = audit.run_of(loaded)
        except DataError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{safe(loaded.id)}: {run.outcome}, seeds {run.seeds}, {run.train_seconds:.1f} s training; "
              f"{safe(provenance(run.trained_with))}")
        for r in results:
            mismatch = "" if r.verdict in (r.expected, Verdict.NOT_JUDGED) else f"   <- spec expects {r.expected}"
            bad += bool(mismatch) and r.expected != Verdict.UNVERIFIABLE
            claimed = safe(r.claimed if len(r.claimed) <= 24 else r.claimed[:21] + "...")  # spec text: escaped
            print(f"  {r.claim_id:32} claimed {claimed:24} measured {r.measured_text():18} {r.verdict}{mismatch}")
    for path in audit.records_written:
        print(f"record: {path}", file=sys.stderr)
    for message in audit.records_kept:
        print(f"record: {safe(message)}", file=sys.stderr)
    return 1 if bad else 0


def provenance(trained_with: list[dict]) -> str:
    """Where a run's seeds came from, and the CPU kinds whose bits they are where not this one's."""
    from collections import Counter

    from harness.environment import cpu_kind

    here = cpu_kind()
    sources = Counter(how.get("source", "?") for how in trained_with)
    text = ", ".join(f"{n} {'trained here' if source == 'trained' else 'from the ' + source}"
                     for source, n in sorted(sources.items()))
    elsewhere = sorted({how.get("cpu_kind") or "a CPU kind not recorded" for how in trained_with
                        if how.get("source") in ("record", "cache") and how.get("cpu_kind") != here})
    return text + (f" (bits of {'; '.join(elsewhere)}; this CPU is {here})" if elsewhere else "")


def cmd_report(args) -> int:
    from harness.data import DataError, output_folders
    from harness.report_write import write_report
    from harness.terminal import safe

    if args.against is not None and not args.against.is_dir():
        print(f"--against {args.against}: no such results folder", file=sys.stderr)
        return 2
    changes: list[str] = []
    try:
        output_folders(args.results, None)
        written = write_report(args.results, specs_root=args.specs, html_too=not args.no_html, against=args.against,
                               changes_out=changes)
    except (DataError, OSError) as exc:  # a read-only or damaged results folder: a message, not a traceback
        print(f"report not written: {safe(exc)}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    if args.against is not None:
        print(f"{len(changes)} claims and lessons changed since {args.against}:" if changes else
              f"nothing changed since {args.against}")
        for line in changes:
            print(f"  {safe(line)}")
    return 0


def cmd_expect(args) -> int:
    from harness.expectations import changes, write
    from harness.terminal import safe

    found = changes(args.results, device_kind=args.device_kind)
    for c in found:
        print(safe(f"{c.spec.id}:{c.claim_id}: spec expects {c.recorded}, measured {c.measured} ({c.evidence})"))
    if args.write and found:
        for path in write(found):
            print(f"updated {path}", file=sys.stderr)
    print(f"{len(found)} expectations differ from the newest full runs", file=sys.stderr)
    return 0


def cmd_download(args) -> int:
    from harness.data import DataError
    from harness.download import MIRRORS, fetch_mnist

    try:
        print(fetch_mnist(args.target, tuple(args.mirror or MIRRORS), log=lambda line: print(line, file=sys.stderr)))
    except DataError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
