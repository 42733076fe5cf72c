"""Records: a rerun that trained nothing and judged the same leaves the committed file untouched."""

import json
import math

from _support import write_tiny_specs

from harness.claims import ClaimResult
from harness.records import build_record, read_record, write_record
from harness.results import SeedCurve, SpecRun
from harness.specs import load_spec


def run_of(loaded, source, final=95.0, loss=0.3):
    curves = [SeedCurve(s, test_accuracy=[90.0, final], test_loss=[0.5, loss], train_accuracy=[80.0, 90.0],
                        train_loss=[0.6, 0.4], lr=[0.05, 0.05]) for s in range(2)]
    return SpecRun(loaded.id, [0, 1], curves, [source != "trained"] * 2, 1.5, 2,
                   {"device": "cpu", "device_name": "test cpu", "torch": "x", "cpu_count": 2},
                   trained_with=[{"source": source, "stack": [0, 1], "threads": 1}] * 2)


def claims(verdict="reproduced"):
    return [ClaimResult("test-accuracy-final", "test_accuracy_final", "95%", [90.0, 100.0], [95.0, 95.0], 95.0, 0.0,
                        verdict, "reproduced")]


def write(loaded, results, run, verdict="reproduced"):
    return write_record(results, loaded, build_record(loaded, run, claims(verdict), 90))


def test_a_rerun_served_from_the_record_does_not_rewrite_it(tmp_path):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha",)) / "alpha.yaml")
    results = tmp_path / "results"
    path = write(loaded, results, run_of(loaded, "trained"))
    first = path.read_text()
    stored = json.loads(first)
    stored["created"] = "2000-01-01T00:00:00+00:00"  # mark the file: a rewrite would replace it
    path.write_text(json.dumps(stored, indent=1) + "\n")
    marked = path.read_text()

    write(loaded, results, run_of(loaded, "record"))
    assert path.read_text() == marked                          # nothing new: untouched
    write(loaded, results, run_of(loaded, "cache"))
    assert path.read_text() == marked
    write(loaded, results, run_of(loaded, "record"), verdict="refuted-above")
    assert path.read_text() == marked  # judged differently (an `expect:` edit): readers re-judge, the file stays


def test_a_retrained_or_changed_run_is_rewritten(tmp_path):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha",)) / "alpha.yaml")
    results = tmp_path / "results"
    path = write(loaded, results, run_of(loaded, "trained", loss=math.nan))
    stored = read_record(path)
    stored["created"] = "2000-01-01T00:00:00+00:00"
    path.write_text(json.dumps(stored, indent=1) + "\n")
    write(loaded, results, run_of(loaded, "record", loss=math.nan))   # NaN equals itself as JSON text
    assert read_record(path)["created"] == "2000-01-01T00:00:00+00:00"
    write(loaded, results, run_of(loaded, "trained", loss=math.nan))  # trained again: a new record
    assert read_record(path)["created"] != "2000-01-01T00:00:00+00:00"
    write(loaded, results, run_of(loaded, "record", final=96.0))     # other curves: rewritten
    assert read_record(path)["curves"][0]["test_accuracy"][-1] == 96.0
