"""Benchmark options and the side-by-side table (`pytest benchmarks/ --benchmark-only`)."""

from _loops import CANDIDATES, RESULTS


def pytest_addoption(parser):
    group = parser.getgroup("audit benchmark")
    group.addoption("--bench-samples", type=int, default=12800,
                    help="training samples per seed and round (default 12800: 100 steps at batch 128)")
    group.addoption("--bench-device", default="auto", help="cpu, cuda or auto")
    group.addoption("--bench-candidates", action="store_true",
                    help="also measure candidate speed-ups (benchmarks/test_candidates.py; several minutes)")


def _pct(share):
    return f"{100 * share:.0f}%" if share is not None else "-"


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    if RESULTS:
        tr.write_sep("-", "training throughput (seed-samples/s: samples per second summed over the seeds trained "
                          "at once) and distance to the fp32 peak")
        header = (f"{'recipe':30} {'variant':28} {'seed-samples/s':>15} {'vs plain':>9} {'GFLOP/s':>8} "
                  f"{'% of peak':>9} {'peak GFLOP/s':>12} {'peak host MiB':>14} {'peak GPU MiB':>13}")
        tr.write_line(header)
        for recipe, variants in RESULTS.items():
            base = variants.get("plain", {}).get("per_seed")
            for name, r in variants.items():
                ratio = f"{r['per_seed'] / base:.2f}x" if base else "-"
                gpu = f"{r['peak_gpu_mib']:.0f}" if r.get("peak_gpu_mib") is not None else "-"
                peak = f"{r['peak_gflops']:.0f}" if r.get("peak_gflops") else "-"
                tr.write_line(f"{recipe:30} {name:28} {r['per_seed']:>15,.0f} {ratio:>9} {r['gflops']:>8.1f} "
                              f"{_pct(r.get('share_of_peak')):>9} {peak:>12} {r['peak_host_mib']:>14,.0f} {gpu:>13}")
        flops = {recipe: next(iter(v.values()))["train_flops_per_sample"] for recipe, v in RESULTS.items()}
        tr.write_line("training FLOPs per sample (forward + backward, FlopCounterMode): "
                      + "; ".join(f"{r}: {f / 1e6:.2f} M" for r, f in flops.items()))
    if CANDIDATES:
        tr.write_sep("-", "candidate speed-ups, one thread (an xdist worker's view): seed-samples/s against the "
                          "audit's plan")
        tr.write_line(f"{'recipe':37} {'candidate':24} {'seed-samples/s':>15} {'vs audit plan':>14} {'GFLOP/s':>8} "
                      f"{'one-off s':>10}  note")
        for recipe, variants in CANDIDATES.items():
            base = (variants.get("audit plan") or variants.get("eval: as is") or {}).get("per_seed")
            for name, r in variants.items():
                ratio = r["ratio"] if r.get("ratio") is not None else (r["per_seed"] / base if base else None)
                ratio = f"{ratio:.2f}x" if ratio else "-"
                once = f"{r['one_off_s']:.1f}" if r.get("one_off_s") is not None else "-"
                gflops = f"{r['gflops']:.1f}" if r["gflops"] == r["gflops"] else "-"  # NaN for evaluation rows
                tr.write_line(f"{recipe:37} {name:24} {r['per_seed']:>15,.0f} {ratio:>14} {gflops:>8} "
                              f"{once:>10}  {r.get('note', '')}")
