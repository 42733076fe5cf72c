"""Records say on which CPU kind their bits hold, and `harness verify` checks each seed where it can.

On an AVX2-only EPYC the committed records (trained on an AVX-512 one) differ by 0.002-0.06 pp; pinning
ATen, oneDNN and MKL to AVX2 on the AVX-512 machine reproduces that arithmetic, which is how a record
keeps a witness for the other kind and how this machine checks it.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
from _support import ROOT, write_tiny_specs

from harness.audit import Audit
from harness.cli import main as main_
from harness.environment import ISA_SWITCHES, _cpuinfo, cpu_kind, onednn_isa
from harness.records import read_record, record_path
from harness.specs import load_spec
from harness.verify import pins_for, seed_kinds

AVX512_FLAGS = {"sse4_1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                "avx512_bf16"}


def test_the_onednn_level_follows_the_flags_and_its_cap():
    assert onednn_isa(AVX512_FLAGS, {}) == "avx512_core_bf16"
    assert onednn_isa({"sse4_1", "avx", "avx2", "fma"}, {}) == "avx2"
    assert onednn_isa(AVX512_FLAGS, {"ONEDNN_MAX_CPU_ISA": "AVX2"}) == "avx2"
    assert onednn_isa(AVX512_FLAGS, {"DNNL_MAX_CPU_ISA": "avx512_core"}) == "avx512_core"
    assert onednn_isa(set(), {}) == "none"


def test_a_cpu_is_pinned_only_down_to_a_kind_it_can_compute_exactly():
    here = "AuthenticAMD AVX512 avx512_core_bf16"
    assert pins_for("AuthenticAMD AVX2 avx2", here, AVX512_FLAGS) == ISA_SWITCHES["AVX2"]
    assert pins_for("AuthenticAMD AVX512 avx512_core_bf16", "AuthenticAMD AVX2 avx2", {"avx2", "fma"}) is None
    assert pins_for("GenuineIntel AVX2 avx2", here, AVX512_FLAGS) is None  # MKL's code path follows the vendor
    assert pins_for("AuthenticAMD AVX2 avx2_vnni", here, AVX512_FLAGS) is None  # the pins would not give it
    assert pins_for("garbage", here, AVX512_FLAGS) is None
    assert pins_for(None, here, AVX512_FLAGS) is None


def test_each_trained_seed_records_the_cpu_kind_that_trained_it(tmp_path, tiny_mnist, one_thread):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "results", train_subset=128, test_subset=32)
    audit._mnist = tiny_mnist
    audit.reproduce(loaded)
    record = read_record(record_path(tmp_path / "results", loaded, "cpu"))
    assert seed_kinds(record) == {0: cpu_kind(), 1: cpu_kind()}
    assert record["environment"]["cpu_kind"] == cpu_kind()
    assert "family" in record["environment"]["cpu_model"] or not _cpuinfo()


def _harness(*args, env=None):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(not {"avx2", "fma"} <= set(_cpuinfo().get("flags", "").split()), reason="needs an AVX2 CPU")
def test_a_witness_of_another_kind_is_checked_bit_for_bit_and_a_doctored_one_is_caught(tmp_path):
    spec = write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml"
    results = tmp_path / "results"
    subset = ["--train-subset", "256", "--test-subset", "64", "--stack", "1"]
    assert _harness("run", str(spec), "--results", str(results), "--seeds", "1", "--no-cache", *subset,
                    env={"AUDIT_CACHE_DIR": str(tmp_path / "cache")}).returncode == 0
    made = _harness("verify", str(spec), "--results", str(results), "--witness", "AVX2")
    assert made.returncode == 0, made.stdout + made.stderr
    bits = next((results / "bits").glob("*.json"))
    assert json.loads(bits.read_text())["witnesses"][0]["cpu_kind"].endswith("AVX2 avx2")

    checked = _harness("verify", str(spec), "--results", str(results))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "seed 0 (record): bit-identical" in checked.stdout
    assert "seed 0 (witness): bit-identical on" in checked.stdout  # here, or in a process pinned to AVX2

    as_avx2 = _harness("verify", str(spec), "--results", str(results), env=ISA_SWITCHES["AVX2"])
    assert "seed 0 (witness): bit-identical on" in as_avx2.stdout, as_avx2.stdout + as_avx2.stderr

    data = json.loads(bits.read_text())
    data["witnesses"][0]["curve"]["test_accuracy"][-1] += 0.01
    bits.write_text(json.dumps(data))
    doctored = _harness("verify", str(spec), "--results", str(results))
    assert doctored.returncode == 1 and "(witness): differs" in doctored.stdout  # the pinned child is strict
    # a CPU of the witness's own kind may not match pins bit for bit: there a mismatch is said, not failed, and
    # the record's seed is judged as a draw (here: one seed, nothing to judge it against)
    elsewhere = _harness("verify", str(spec), "--results", str(results), env=ISA_SWITCHES["AVX2"])
    assert elsewhere.returncode == 0 and "not counted as a failure" in elsewhere.stdout, elsewhere.stdout


def test_the_consistency_band_refuses_a_true_curve_at_most_alpha_of_the_time():
    """Record seeds and the retrained seed all drawn from one recipe (99.4 +- 0.05 pp per epoch, 15 epochs,
    epochs independent: the worst case for a per-epoch rule): the curve is refused <= 1% (Bonferroni)."""
    import numpy as np

    from harness.verify import consistent

    rng = np.random.default_rng(0)
    trials, refused, shifted = 1500, 0, 0
    for _ in range(trials):
        draws = np.round(rng.normal(99.4, 0.05, size=(6, 15)), 2)
        record = [{"test_accuracy": list(row)} for row in draws[1:]]
        refused += not consistent({"test_accuracy": list(draws[0])}, record)[0]
        shifted += not consistent({"test_accuracy": list(draws[0] - 0.5)}, record)[0]
    assert refused / trials <= 0.015
    assert shifted / trials >= 0.9  # a curve 0.5 pp (10 sd) low at every epoch is no draw of the recipe


def test_a_seed_of_a_kind_this_cpu_cannot_compute_is_judged_as_one_more_draw(tmp_path, capsys, one_thread):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny")
    results = tmp_path / "results"
    assert main_(["run", str(folder / "alpha.yaml"), "--results", str(results), "--seeds", "4", "--train-subset",
                  "512", "--test-subset", "256", "--audit-cache", str(tmp_path / "cache")]) == 0
    path = next((results / "records").glob("*.json"))
    record = json.loads(path.read_text())
    for how in record["trained_with"]:
        how["cpu_kind"] = "SomeVendor AVX512 avx512_core"  # a kind no CPU here can be or pin
    path.write_text(json.dumps(record))
    capsys.readouterr()
    assert main_(["verify", str(folder / "alpha.yaml"), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "seed 0 (record): consistent (every epoch" in out and "bit-identical" not in out

    for curve in record["curves"][1:]:  # the other seeds now claim a recipe that scores 100% every epoch
        curve["test_accuracy"] = [100.0 for _ in curve["test_accuracy"]]
    path.write_text(json.dumps(record))
    assert main_(["verify", str(folder / "alpha.yaml"), "--results", str(results)]) == 1
    assert "NOT consistent" in capsys.readouterr().out


def test_the_witness_levels_verify_offers_are_the_ones_it_can_pin():
    from harness.verify import WITNESS_LEVELS

    assert set(WITNESS_LEVELS) == set(ISA_SWITCHES)
