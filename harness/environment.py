"""What machine and software a run happens on: captured read-only, once per run.

`capture` only reads; `configure_determinism` is the one place that sets
torch's global flags, and `retain_freed_memory` the one place that tunes the
process's memory allocator; the engine calls both once per training call.
"""

from __future__ import annotations

import ctypes
import os
import platform
from functools import lru_cache
from pathlib import Path

import torch


def configure_determinism(device: torch.device) -> None:
    """As deterministic as PyTorch allows on the device (CUDA: cuDNN, cuBLAS, deterministic algorithms)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


# glibc's mallopt parameters (malloc.h) and the values set: keep a step's freed tensors for the next step
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
RETAINED = {M_MMAP_THRESHOLD: 1 << 30, M_TRIM_THRESHOLD: 1 << 30, M_TOP_PAD: 64 << 20}
RETAIN_SWITCH = "AUDIT_RETAIN_MEMORY"  # "0": leave the allocator as it is (A/B measurements, tight memory)


def retain_freed_memory(device: torch.device, libc=None) -> bool:
    """CPU training under glibc: keep freed memory in the process instead of handing it back to the OS.

    By default glibc serves allocations above its mmap threshold (128 KiB, rising to at most 32 MiB) with
    fresh mmap()s and trims the heap's top on free, so every training step's activations (6-50 MiB here)
    come back as new pages that the kernel must fault in and zero: 1.5-7.5 million minor page faults and
    9-20% of a run's time in the kernel (docs/performance.md). Raising the mmap and trim thresholds keeps
    those pages for the next step. Only where memory comes from: no result changes (curves bit-identical,
    tested). Costs the process its peak heap until exit. Process-wide and idempotent; True when applied."""
    if device.type != "cpu" or os.environ.get(RETAIN_SWITCH) == "0":
        return False
    if libc is None:
        if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            return False  # the parameters are glibc's: musl, macOS and Windows allocators differ
        libc = ctypes.CDLL(None)
    mallopt = getattr(libc, "mallopt", None)
    return mallopt is not None and all([mallopt(param, value) == 1 for param, value in RETAINED.items()])


def _determinism(device: torch.device) -> dict:
    flags = {"torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        flags.update(cudnn_deterministic=torch.backends.cudnn.deterministic,
                     cudnn_benchmark=torch.backends.cudnn.benchmark,
                     deterministic_algorithms="warn_only" if torch.is_deterministic_algorithms_warn_only_enabled()
                     else torch.are_deterministic_algorithms_enabled(),
                     cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
                     cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                     matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    return flags


def capture(device: torch.device) -> dict:
    """The run's environment for the record (reads only)."""
    env = {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
           "device": str(device), "device_name": device_name(device), "cpu_count": os.cpu_count(),
           "determinism": _determinism(device)}
    if device.type == "cpu":
        env.update(cpu_kind=cpu_kind(), cpu_model=cpu_model())
    if device.type == "cuda":
        env.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return env


def environment_key(env: dict) -> dict:
    """What decides a curve beyond the spec and seed: torch version, device kind and model.

    The thread count, the seeds stacked together and the memory format change only the order of
    floating-point sums; they are recorded per seed, not part of the key (docs/determinism.md)."""
    return {"torch": env.get("torch"), "device": str(env.get("device") or "").split(":")[0],
            "device_name": env.get("device_name"), "cuda": env.get("cuda"), "cudnn": env.get("cudnn")}


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _cpu_name() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


# oneDNN's x86 instruction sets, lowest first, each with the CPU flags it needs (its `cpu_isa_t` names)
ONEDNN_ISAS = (
    ("sse41", {"sse4_1"}),
    ("avx", {"avx"}),
    ("avx2", {"avx2", "fma"}),
    ("avx2_vnni", {"avx2", "fma", "avx_vnni"}),
    ("avx512_core", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    ("avx512_core_vnni", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}),
    ("avx512_core_bf16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}),
    ("avx512_core_fp16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
                          "avx512_fp16"}),
    ("avx512_core_amx", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
                         "amx_tile", "amx_bf16", "amx_int8"}),
)
# What pins the instruction sets a run uses below what the CPU offers (ATen's, oneDNN's, MKL's switches)
ISA_SWITCHES = {"AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
                "AVX512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
                           "MKL_ENABLE_INSTRUCTIONS": "AVX512"}}


def onednn_isa(flags: set[str], environ=os.environ) -> str:
    """The widest oneDNN instruction set this CPU offers, capped by ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA)."""
    names = [name for name, needs in ONEDNN_ISAS if needs <= flags] or ["none"]
    cap = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "").lower()
    order = [name for name, _ in ONEDNN_ISAS]
    if cap in order:
        names = [n for n in names if n in order and order.index(n) <= order.index(cap)] or ["none"]
    return names[-1]


def cpu_kind(environ=os.environ) -> str:
    """Which CPU arithmetic a run's bits depend on: vendor, ATen's kernel level and oneDNN's instruction set.

    The same spec and seed train bit-identically only where all three agree: on an AVX2-only EPYC the
    records trained on an AVX-512 one differ by 0.002-0.06 pp, and pinning ATen alone or oneDNN alone to
    AVX2 on the AVX-512 machine still differs (docs/determinism.md). MKL picks its code path by vendor."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    vendor = info.get("vendor_id") or platform.machine()
    return f"{vendor} {torch.backends.cpu.get_cpu_capability()} {onednn_isa(flags, environ)}"


def cpu_model() -> str:
    """The CPU by name, family, model and stepping (what a reader looks up), where /proc/cpuinfo says."""
    info = _cpuinfo()
    parts = [_cpu_name()] + [f"{k} {info[k]}" for k in ("cpu family", "model", "stepping") if info.get(k)]
    return ", ".join(parts)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return _cpu_name()
