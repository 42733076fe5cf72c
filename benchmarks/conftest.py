"""Benchmark options and the side-by-side table (`pytest benchmarks/ --benchmark-only`)."""

from _loops import RESULTS


def pytest_addoption(parser):
    group = parser.getgroup("audit benchmark")
    group.addoption("--bench-samples", type=int, default=12800,
                    help="training samples per seed and round (default 12800: 100 steps at batch 128)")
    group.addoption("--bench-device", default="auto", help="cpu, cuda or auto")



def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.write_sep("-", "training throughput in seed-samples/s (samples per second, summed over the seeds trained at once)")
    header = (f"{'recipe':28} {'variant':30} {'seed-samples/s':>15} {'vs plain':>9} "
              f"{'peak host MiB':>14} {'peak GPU MiB':>13}")
    tr.write_line(header)
    for recipe, variants in RESULTS.items():
        base = variants.get("plain", {}).get("per_seed")
        for name, r in variants.items():
            ratio = f"{r['per_seed'] / base:.2f}x" if base else "-"
            gpu = f"{r['peak_gpu_mib']:.0f}" if r.get("peak_gpu_mib") is not None else "-"
            tr.write_line(f"{recipe:28} {name:30} {r['per_seed']:>15,.0f} {ratio:>9} {r['peak_host_mib']:>14,.0f} {gpu:>13}")
