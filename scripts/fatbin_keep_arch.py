#!/usr/bin/env python3
# Copyright 2026 lightseg_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""
Zero, in place, the GPU code of a CUDA library for all architectures but one.

Measurement only: it makes onnxruntime-gpu small enough to carry to a lent GPU machine (see
scripts/ort_gpu_carry.sh). A CUDA shared library keeps its device code in the ELF section
``.nv_fatbin``: a run of fat-binary containers (magic 0xBA55ED50, a 16-byte header, then
entries), each entry a header (kind, header size, payload size, SM architecture at byte 28) and a
payload, one entry per architecture built. In each container that has a ``--keep`` entry, the
payloads of the others are overwritten with zeros; sizes and offsets stay as they were, so the
library loads as before and the GPU of that architecture runs the same code. The zeros compress
to nothing. Containers without a ``--keep`` entry are left whole. No tool here does this
(NVIDIA's nvprune works on objects at build time).

usage: fatbin_keep_arch.py LIBRARY.so --keep 90
"""

import argparse
import struct
import sys

MAGIC = 0xBA55ED50


def fatbin_section(data: bytes) -> tuple[int, int]:
    """Return the file offset and size of ``.nv_fatbin`` in an ELF64 little-endian file."""
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise SystemExit('not a 64-bit little-endian ELF file')
    (shoff,) = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)

    def header(i):  # (name offset, file offset, size)
        base = shoff + i * shentsize
        (name,) = struct.unpack_from('<I', data, base)
        offset, size = struct.unpack_from('<QQ', data, base + 0x18)
        return name, offset, size

    _, names, _ = header(shstrndx)
    for i in range(shnum):
        name, offset, size = header(i)
        start = names + name
        stop = data.index(b'\0', start)
        if data[start:stop] == b'.nv_fatbin':
            return offset, size
    raise SystemExit('no .nv_fatbin section')


def keep_arch(data: bytearray, keep: int) -> tuple[int, int, int]:
    """Zero the other architectures' payloads; return (containers, bytes zeroed, kept whole)."""
    pos, end_section = fatbin_section(data)
    end_section += pos
    containers = zeroed = whole = 0
    while pos + 16 <= end_section:
        magic, _, header_size, size = struct.unpack_from('<IHHQ', data, pos)
        if magic != MAGIC:  # alignment padding between containers
            pos += 8
            continue
        containers += 1
        entry, end = pos + header_size, pos + header_size + size
        entries = []
        while entry < end:
            _, _, entry_header, payload = struct.unpack_from('<HHIQ', data, entry)
            (arch,) = struct.unpack_from('<I', data, entry + 28)
            entries.append((arch, entry + entry_header, payload))
            entry += entry_header + payload
        if any(arch == keep for arch, _, _ in entries):
            for arch, start, payload in entries:
                if arch != keep:
                    stop = start + payload
                    data[start:stop] = bytes(payload)
                    zeroed += payload
        else:
            whole += 1
        pos = end
    return containers, zeroed, whole


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('library')
    parser.add_argument('--keep', type=int, required=True, help='SM architecture, e.g. 90 (H100)')
    args = parser.parse_args()
    with open(args.library, 'rb') as f:
        data = bytearray(f.read())
    containers, zeroed, whole = keep_arch(data, args.keep)
    with open(args.library, 'wb') as f:
        f.write(data)
    print(
        f'{args.library}: {containers} containers, {zeroed / 1e6:.1f} MB of other '
        f'architectures zeroed, {whole} without sm_{args.keep} left whole'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
