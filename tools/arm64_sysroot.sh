#!/usr/bin/env bash
# An aarch64 Python 3.11 with LiteRT and NumPy, run by QEMU user mode: the phone's runtime on this x86 machine.
#   bash tools/arm64_sysroot.sh [DIR]      (default: ~/.cache/tfsr/arm64; tests/test_arm64.py looks there)
# Debian's arm64 packages unpacked with dpkg -x (no install, no chroot), the aarch64 wheels of the LiteRT
# version in use unpacked beside them, and an ARM /proc/cpuinfo (a Cortex-A72's: XNNPACK reads it at start-up,
# and the host's x86 one crashes it; the instruction sets come from QEMU's -cpu). Needs root for apt (a foreign architecture), qemu-user-static and the registries.
set -euo pipefail
DIR=${1:-$HOME/.cache/tfsr/arm64}
[ -x "$DIR/root/usr/bin/python3.11" ] && [ -d "$DIR/site/ai_edge_litert" ] && { echo "$DIR: ready"; exit 0; }
command -v qemu-aarch64-static >/dev/null || { echo "needs qemu-aarch64-static (Debian's qemu-user-static)"; exit 1; }
mkdir -p "$DIR/debs" "$DIR/root/proc" "$DIR/wheels" "$DIR/site"
dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
PACKAGES="libbz2-1.0 libc6 libcrypt1 libexpat1 libffi8 libgcc-s1 liblzma5 libncursesw6 libpython3.11-minimal
          libpython3.11-stdlib libreadline8 libsqlite3-0 libssl3 libstdc++6 libtinfo6 libuuid1 python3.11-minimal
          zlib1g libnsl2 libtirpc3 libdb5.3 libgssapi-krb5-2 libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0
          libcom-err2"
(cd "$DIR/debs" && apt-get download -qq $(for p in $PACKAGES; do echo "$p:arm64"; done))
for deb in "$DIR"/debs/*.deb; do dpkg -x "$deb" "$DIR/root"; done
cat > "$DIR/root/proc/cpuinfo" <<'CPUINFO'
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

CPUINFO
LITERT=$(python -c 'import importlib.metadata as m; print(m.version("ai-edge-litert"))')
NUMPY=$(python -c 'import numpy; print(numpy.__version__)')
python -m pip download -q --only-binary=:all: --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 --platform any --python-version 3.11 --implementation cp \
    -d "$DIR/wheels" "ai-edge-litert==$LITERT" "numpy==$NUMPY"
for wheel in "$DIR"/wheels/*.whl; do python -m zipfile -e "$wheel" "$DIR/site/"; done
echo "$DIR: aarch64 Python $(qemu-aarch64-static -L "$DIR/root" "$DIR/root/usr/bin/python3.11" -c 'import sys; print(sys.version.split()[0])'), LiteRT $LITERT, NumPy $NUMPY"
