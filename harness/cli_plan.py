"""`python -m harness plan`: its options, and the command that prices a sitting (harness.plan does the work).

Kept apart from harness/plan.py, which imports torch, so `python -m harness plan --help` answers at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.option_types import add_shared, positive_count


def add_command(sub) -> None:
    p = sub.add_parser("plan", help="FLOPs and estimated wall time of reproducing specs, before training")
    p.add_argument("-k", dest="keyword", default=None, metavar="EXPR",
                   help="only specs whose id matches (substrings with and/or/not, as pytest -k)")
    add_shared(p.add_argument, "--seeds", "--max-seeds")
    p.add_argument("--workers", type=positive_count, default=1, help="parallel processes, as pytest -n N (default 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    add_shared(p.add_argument, "--stack")
    p.add_argument("--specs", type=Path, default=None, help="spec folder (default: specs/)")
    p.add_argument("--audit-cache", type=Path, default=None, help="results cache (cached seeds cost nothing)")
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="committed records, whose seeds the audit reuses (default: results/)")
    p.add_argument("--no-cache", action="store_true", help="count every seed, as `--no-cache` retrains them")
    p.add_argument("--no-calibrate", action="store_true", help="FLOPs only, no timing")
    p.add_argument("--recalibrate", action="store_true", help="measure again even where a calibration is cached")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args) -> int:
    from harness.audit import AUTO, resolve_device
    from harness.cache import ResultsCache
    from harness.plan import AUTO_NOTE, KeywordError, auto_seed_values, format_plan, keyword_matcher, make_plan
    from harness.specs import load_all

    try:
        matches = keyword_matcher(args.keyword)
    except KeywordError as exc:
        print(exc, file=sys.stderr)
        return 2
    loaded, errors = load_all(args.specs)
    for e in errors:
        print(e, file=sys.stderr)
    chosen = [s for s in loaded if matches(s.id)]
    if not chosen:
        print(f"no spec matches -k {args.keyword!r}", file=sys.stderr)
        return 1
    device = resolve_device(args.device)
    seed_values = auto_seed_values(loaded, None if args.no_cache else args.results, device, args.max_seeds) \
        if args.seeds == AUTO else None
    plan = make_plan(chosen, seeds=None if args.seeds == AUTO else args.seeds, workers=args.workers, device=device,
                     cache=None if args.no_cache else ResultsCache(args.audit_cache),
                     results_dir=None if args.no_cache else args.results, stack=args.stack,
                     calibrate=not args.no_calibrate, calibration_root=args.audit_cache,
                     recalibrate=args.recalibrate, log=lambda m: print(m, file=sys.stderr), seed_values=seed_values)
    if args.json:
        json.dump({"specs": [{**s.__dict__, "flops": s.flops} for s in plan.specs], "workers": plan.workers,
                   "threads": plan.threads, "device": plan.device, "flops": plan.flops, "seconds": plan.seconds},
                  sys.stdout, indent=2)
        print()
    else:
        if seed_values is not None:
            print(AUTO_NOTE.format(cap=args.max_seeds))
        print(format_plan(plan))
    return 1 if errors else 0
