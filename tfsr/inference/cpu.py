"""The CPU a model runs on: its name and the instruction sets that decide which file runs fastest.

Speeds are only comparable between machines with the same instruction sets:
with AVX-512 VNNI (or AVX-VNNI, AMX, ARM's dot products), int8 convolutions
run about three times as fast as float32; without, XNNPACK's int8 kernels
can be slower than its float ones.
"""
import platform
from pathlib import Path

# The instruction sets that decide XNNPACK's float and int8 convolution speed on x86 and ARM.
SPEED_FLAGS = ("fma", "avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8",
               "asimddp", "i8mm")
INT8_DOT_PRODUCTS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
BF16_NATIVE = ("avx512_bf16", "amx_bf16")


def cpu_description(cpuinfo=None):
    """{"cpu": its name, "isa": the `SPEED_FLAGS` it has}; ``cpuinfo`` is /proc/cpuinfo's text (read when None)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    return {"cpu": fields.get("model name") or platform.processor() or platform.machine(),
            "isa": [f for f in SPEED_FLAGS if f in flags]}


def has_int8_dot_products(cpu=None):
    """Whether int8 convolutions have fast dot-product instructions here (``cpu``: a `cpu_description`)."""
    return any(flag in (cpu or cpu_description())["isa"] for flag in INT8_DOT_PRODUCTS)
