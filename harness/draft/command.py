"""`python -m harness new README --slug SLUG` and `python -m harness new --compare specs/<slug>`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from harness.draft.sources import default_claims_dir

SLUG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")  # one folder or file name: no separator, no leading dot


def add_command(sub) -> None:
    p = sub.add_parser("new", help="draft a spec folder from a README (and its model code)")
    p.add_argument("readme", nargs="?", type=Path, help="the README (a path, or a file name in the claims folder)")
    p.add_argument("--slug", help="folder name of the draft (default: the README's stem)")
    p.add_argument("--out", type=Path, default=None, help="where to write (default: specs/SLUG)")
    p.add_argument("--code", type=Path, action="append", default=[], metavar="FILE_OR_DIR",
                   help="model code to read (never run); repeatable")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out folder")
    p.add_argument("--claims-dir", type=Path, default=None,
                   help="folder of the READMEs (default: $AUDIT_CLAIMS_DIR or ../shared/claims)")
    p.add_argument("--compare", type=Path, nargs="+", metavar="SPEC_FOLDER",
                   help="draft each folder's README and compare with its hand-written specs (writes nothing)")
    p.set_defaults(func=cmd_new)


def cmd_new(args) -> int:
    from harness.draft import escape, write
    from harness.draft.repair import suggestion
    from harness.specs import SpecError, default_specs_dir, load_all

    claims_dir = args.claims_dir or default_claims_dir()
    if args.compare:
        return _compare(args.compare, claims_dir, args.code)
    if args.readme is None:
        print("new: give a README (or --compare SPEC_FOLDER)", file=sys.stderr)
        return 2
    readme = args.readme if args.readme.is_file() else claims_dir / args.readme
    if not args.readme.is_file() and not SLUG.match(str(args.readme)):  # a name in the claims folder stays in it
        print(f"new: {escape(args.readme)}: no such file, and not a file name of the claims folder", file=sys.stderr)
        return 2
    if not readme.is_file():
        print(f"new: {escape(args.readme)}: no such file (nor in {escape(claims_dir)})", file=sys.stderr)
        return 2
    slug = args.slug or readme.stem
    if not SLUG.match(slug):  # the folder is made under specs/: a slug is one name, never a path out of it
        print(f"new: --slug {escape(slug)}: expected one folder name (letters, digits, _ . -, not starting with "
              "a dot); use --out DIR to write elsewhere", file=sys.stderr)
        return 2
    out = args.out or default_specs_dir() / slug
    try:
        written = write(readme, slug, out, args.code, force=args.force)
    except (FileExistsError, ValueError, OSError) as exc:
        print(f"new: {escape(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a drafter bug must not end in a traceback; nothing was written
        print(f"new: {escape(readme.name)}: the drafter failed ({type(exc).__name__}: {escape(exc)}); nothing "
              "was written. Please report it with the README.", file=sys.stderr)
        return 1
    for path in written.files:
        print(f"wrote {escape(path)}")
    try:
        errors = load_all(out)[1]   # what `check` would reject; the counts below are of what was written
    except SpecError as exc:
        errors = [exc]
    for e in errors:
        print(escape(e), file=sys.stderr)
        for problem in getattr(e, "problems", [])[:3]:
            print(f"  fix: {escape(suggestion(getattr(problem, 'message', str(problem))))}", file=sys.stderr)
    d = written.draft
    drafted = {k: v for k, v in d.specs.items() if not k.startswith("_")}
    print(f"\n{len(drafted)} specs, {sum(len(v.get('claims', [])) for v in drafted.values())} claims written"
          f"{f' ({len(errors)} rejected by check, fixes above)' if errors else ''}; constraint: {escape(d.constraint)}")
    if d.decisions:
        print(f"\nFor a person to decide ({len(d.decisions)}):")
        for line in d.decisions:
            print(f"  - {escape(line)}")
    print("\nTrained claims expect `reproduced` (the README at face value); after a run, "
          "`python -m harness expect --write` records what was measured.")
    return 1 if errors else 0


def _compare(folders: list[Path], claims_dir: Path, code) -> int:
    from harness.draft import escape
    from harness.draft.compare import HEADER, compare

    results = [compare(f, claims_dir, code) for f in folders]
    print(HEADER)
    for r in results:
        print(r.row())
    bad = 0
    for r in results:
        for e in r.draft_errors:
            print(f"{r.hand_folder}: draft spec invalid: {escape(e)}", file=sys.stderr)
        if r.missed:
            print(f"{r.hand_folder}: not extracted: {', '.join(r.missed)}", file=sys.stderr)
        if r.invented:
            print(f"{r.hand_folder}: FIGURES NOT IN THE README: {', '.join(r.invented)}", file=sys.stderr)
        bad += bool(r.draft_errors or r.invented)
    return 1 if bad else 0
