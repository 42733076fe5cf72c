"""`python -m harness ...`: the same objects pytest uses, from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.specs import LoadedSpec, SpecError, default_specs_dir, discover, load_all, load_spec
from harness.terminal import safe
from harness.verdict import Verdict


def find_spec(ref: str, root: Path | None = None) -> LoadedSpec:
    """A spec by path (`specs/sub20k/iteration9.yaml`) or id (`sub20k/iteration9`)."""
    path = Path(ref)
    if path.suffix not in (".yaml", ".yml"):  # an id; ids may hold dots (iteration3-lr0.001)
        path = (root or default_specs_dir()) / f"{ref}.yaml"
    return load_spec(path)


def parameter_row(loaded: LoadedSpec) -> dict:
    """Claimed vs computed parameters, plus the counts under each finding's overrides."""
    from harness.claims import Evidence, Parameters
    from harness.verdicts import planned_parameters

    total = trainable = planned_parameters(loaded)  # the shape plan: every parameter a spec declares trains
    claims = [c for c in loaded.spec.claims if isinstance(c, Parameters)]
    judged = claims[0].judge(Evidence(loaded.id, None, loaded.spec.recipe.epochs, total)) if claims else None
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
    paths = [p for ref in (args.paths or [str(default_specs_dir())]) for p in discover(Path(ref))]
    if not paths:
        print("no spec files found", file=sys.stderr)
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
    known = {s.id: s for s in loaded}

    def epochs_of(spec_id: str) -> int | None:
        if spec_id not in known:
            try:
                known[spec_id] = find_spec(spec_id, loaded[0].path.parent.parent)
            except (SpecError, OSError):
                return None
        return known[spec_id].spec.recipe.epochs

    bad = 0
    for spec in loaded:
        found = [f"{spec.path}: claims[{i}].{field}: {message}" for i, claim in enumerate(spec.spec.claims)
                 for field, message in claim.related_problems(spec.id, epochs_of)]
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

    from harness import cli_run  # training commands live with the engine

    cli_run.add_commands(sub)
    from harness import plan  # FLOPs and wall-time estimate before training

    plan.add_command(sub)
    from harness import verify  # retrain recorded seeds and compare with the record

    verify.add_command(sub)
    from harness.draft.command import add_command as add_new  # `new`: draft a spec folder from a README

    add_new(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
