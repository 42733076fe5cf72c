"""`python -m harness ...`: the same objects pytest uses, from the shell.

`--help` answers without importing torch (`python -m harness --help`: 7.0-9.2 s with it, 0.10-0.16 s
without, on the 2-vCPU AMD EPYC VM at load 6.5, 2026-12-06): the spec loader (which builds
layers with torch) is imported inside the commands, and a subcommand defined in another module is
imported only when it is the one asked for; the others are listed by name and help (SUBCOMMANDS,
kept equal to what their modules register by tests/test_draft_help.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.terminal import safe
from harness.verdict import Verdict

if TYPE_CHECKING:
    from harness.specs import LoadedSpec

# subcommand -> (module whose add_command(s) defines it, its one-line help)
SUBCOMMANDS = {
    "run": ("harness.cli_run", "train specs (all seeds together), judge claims, write records"),
    "report": ("harness.cli_run", "write results/REPORT.md and report.html from the records"),
    "expect": ("harness.cli_run", "claims whose measured verdict differs from the spec's `expect`"),
    "download": ("harness.cli_run", "fetch MNIST over HTTP into DIR and verify it (SHA256 of each file)"),
    "plan": ("harness.cli_plan", "FLOPs and estimated wall time of reproducing specs, before training"),
    "verify": ("harness.verify", "retrain recorded seeds from scratch and compare them with the record"),
    "new": ("harness.draft.command", "draft a spec folder from a README (and its model code)"),
}
_REGISTER = {"harness.cli_run": "add_commands", "harness.cli_plan": "add_command", "harness.verify": "add_command",
             "harness.draft.command": "add_command"}


def find_spec(ref: str, root: Path | None = None) -> LoadedSpec:
    """specs.find_spec, imported when used (the spec loader imports torch)."""
    from harness.specs import find_spec as find

    return find(ref, root)


def parameter_row(loaded: LoadedSpec) -> dict:
    """Claimed vs computed parameters, plus the counts under each finding's overrides."""
    from harness.claims import Evidence, Parameters
    from harness.verdicts import planned_parameters, structure_of

    total = trainable = planned_parameters(loaded)  # the shape plan: every parameter a spec declares trains
    claims = [c for c in loaded.spec.claims if isinstance(c, Parameters)]
    evidence = Evidence(loaded.id, None, loaded.spec.recipe.epochs, total, **structure_of(loaded))
    judged = claims[0].judge(evidence) if claims else None
    fidelity = loaded.spec.fidelity["architecture"].level
    return {
        "id": loaded.id,
        "title": loaded.spec.title,
        "source": {"file": loaded.spec.source.file, "section": loaded.spec.source.section},
        "fidelity": {"architecture": fidelity,
                     **{k: v.level for k, v in loaded.spec.fidelity.items() if k != "architecture"}},
        "claimed_parameters": claims[0].value if claims else None,
        "claimed_approximate": claims[0].approximate if claims else None,
        "computed_parameters": total,
        "trainable_parameters": trainable,
        "matches": (judged.verdict == Verdict.REPRODUCED) if judged else None,
        "expected": claims[0].expect if claims else None,
        "findings": [{"id": f.id, "kind": f.kind, "summary": f.summary,
                      **({"parameters": f.parameters} if f.parameters else {})} for f in loaded.spec.findings],
    }


def cmd_list(args) -> int:
    from harness.specs import load_all

    specs, errors = load_all(args.root)
    rows = [parameter_row(s) for s in specs]
    if args.json:
        json.dump({"specs": rows, "errors": [str(e) for e in errors]}, sys.stdout, indent=2)
        print()
    else:
        header = f"{'id':40} {'README':7} {'architecture':13} {'claimed':>9} {'computed':>9}  verdict"
        print(header)
        print("-" * len(header))
        for r in rows:
            claimed = "-"
            if r["claimed_parameters"] is not None:
                claimed = f"{'~' if r['claimed_approximate'] else ''}{r['claimed_parameters']:,}"
            verdict = ""
            if r["matches"] is not None:
                verdict = "match" if r["matches"] else "MISMATCH"
                expected_match = r["expected"] == Verdict.REPRODUCED
                verdict += "" if expected_match == r["matches"] else f" (spec expects {r['expected']})"
            arch = r["fidelity"]["architecture"]
            readme = safe(r["source"]["file"].split("_")[0])  # spec strings: controls escaped (harness.terminal)
            print(f"{safe(r['id']):40} {readme:7} {arch:13} {claimed:>9} {r['computed_parameters']:>9,}  {verdict}")
            for f in r["findings"]:
                extra = f" ({f['parameters']:,} parameters under its overrides)" if "parameters" in f else ""
                print(f"{'':50}finding {f['id']}: {safe(f['summary'])}{extra}")
        print(f"\n{len(rows)} specs", file=sys.stderr)
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


def cmd_check(args) -> int:
    from harness.specs import SpecError, default_specs_dir, discover, load_spec

    refs = args.paths or [str(default_specs_dir())]
    paths = [p for ref in refs for p in discover(Path(ref))]
    if not paths:
        print(f"no spec files (*.yaml, not starting with _) in {', '.join(safe(r) for r in refs)}", file=sys.stderr)
        return 1
    failures, loaded = 0, []
    for path in paths:
        try:
            loaded.append(load_spec(path))
        except SpecError as exc:
            failures += 1
            print(exc, file=sys.stderr)
    failures += related_problems(loaded)
    print(f"{len(paths) - failures} of {len(paths)} specs valid", file=sys.stderr)
    from harness.draft import escape
    from harness.draft.sources import check_readmes  # the README each folder was written from

    notes, bad_readmes = check_readmes(loaded, args.claims_dir)
    for line in notes:
        print(escape(line), file=sys.stderr)
    return 1 if failures or bad_readmes else 0


def related_problems(loaded: list[LoadedSpec]) -> int:
    """Claims that name another spec (comparisons): it exists and the metric applies to it. Returns the number
    of specs with such a problem."""
    from harness.specs import related_problems as spec_related

    known = {s.id: s for s in loaded}

    def find(spec_id: str) -> LoadedSpec:
        if spec_id not in known:
            known[spec_id] = find_spec(spec_id, loaded[0].path.parent.parent)
        return known[spec_id]

    bad = 0
    for spec in loaded:
        found = [f"{spec.path}: claims[{i}].{field}: {message}" for i, field, message in spec_related(spec, find)]
        for line in found:
            print(safe(line), file=sys.stderr)
        bad += bool(found)
    return bad


def cmd_summary(args) -> int:
    from harness.model import summary

    loaded = find_spec(args.spec)
    print(safe(f"{loaded.id}: {loaded.spec.title}"))
    print(summary(loaded.spec.architecture))
    return 0


def editor_schema() -> dict:
    """The spec's JSON Schema for editors: every key and type checked, nothing required.

    A file that `extends` another states only what changes (`optimizer: {lr: 0.002}`), so
    completeness is left to `python -m harness check`: unions become anyOf (an override
    without `type` fits its branch) and only the one key of a layer or augmentation entry
    stays required. Unknown keys and wrong types still fail every branch."""
    from harness.schema import Spec

    schema = Spec.model_json_schema()

    def strip(node):
        if isinstance(node, dict):
            if "oneOf" in node:
                node["anyOf"] = node.pop("oneOf")
            node.pop("discriminator", None)
            if "required" in node and len(node.get("properties", {})) != 1:
                node.pop("required")
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "MNIST README audit spec"
    return schema


def cmd_schema(args) -> int:
    json.dump(editor_schema(), sys.stdout, indent=2)
    print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description="Audit MNIST README claims from YAML specs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="every spec: id, source, fidelity, claimed vs computed parameters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--root", type=Path, default=None, help="spec folder (default: specs/)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="validate specs; exit 1 on any error")
    p.add_argument("paths", nargs="*", help="spec files or folders (default: specs/)")
    p.add_argument("--claims-dir", type=Path, default=None,
                   help="folder of the READMEs (default: $AUDIT_CLAIMS_DIR or ../shared/claims)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("summary", help="per-layer table of one spec's model")
    p.add_argument("spec", help="spec id (sub20k/iteration9) or path")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("schema", help="print the spec JSON Schema (for editors)")
    p.set_defaults(func=cmd_schema)

    asked = _command_word(sys.argv[1:] if argv is None else argv)
    if asked in SUBCOMMANDS:  # training (cli_run), plan, verify, new: the module of the one asked for only
        module = SUBCOMMANDS[asked][0]
        getattr(importlib.import_module(module), _REGISTER[module])(sub)
    for name, (_, text) in SUBCOMMANDS.items():
        if name not in sub.choices:  # listed by `--help`; never parsed, since it is not the command given
            sub.add_parser(name, help=text)

    args = parser.parse_args(argv)
    from harness.specs import SpecError

    try:
        return args.func(args)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1


def _command_word(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the top-level parser takes no options but -h)."""
    return next((a for a in argv if not a.startswith("-")), None)
