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

"""scripts/fatbin_keep_arch.py on a small ELF file built here: what it zeroes and what it keeps."""

import importlib.util
from pathlib import Path
import struct
import subprocess
import sys

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / 'scripts' / 'fatbin_keep_arch.py'
MAGIC = 0xBA55ED50
ENTRY_HEADER = 64


def entry(arch: int, payload: bytes) -> bytes:
    """Return a fat-binary entry: kind 2 (ELF), header and payload sizes, the SM at byte 28."""
    header = bytearray(ENTRY_HEADER)
    struct.pack_into('<HHIQ', header, 0, 2, 0x0101, ENTRY_HEADER, len(payload))
    struct.pack_into('<I', header, 28, arch)
    return bytes(header) + payload


def container(*entries: bytes) -> bytes:
    body = b''.join(entries)
    return struct.pack('<IHHQ', MAGIC, 1, 16, len(body)) + body


def elf_with_fatbin(fatbin: bytes) -> bytes:
    """Return an ELF64 file of three sections: null, .nv_fatbin and the section-name table."""
    names = b'\0.nv_fatbin\0.shstrtab\0'
    fatbin_at = 64
    names_at = fatbin_at + len(fatbin)
    shoff = (names_at + len(names) + 7) // 8 * 8
    header = bytearray(64)
    header[:6] = b'\x7fELF\x02\x01'
    struct.pack_into('<Q', header, 0x28, shoff)
    struct.pack_into('<HHH', header, 0x3A, 64, 3, 2)

    def section(name: int, offset: int, size: int) -> bytes:
        raw = bytearray(64)
        struct.pack_into('<I', raw, 0, name)
        struct.pack_into('<QQ', raw, 0x18, offset, size)
        return bytes(raw)

    body = bytes(header) + fatbin + names
    body += bytes(shoff - len(body))
    return (
        body
        + section(0, 0, 0)
        + section(1, fatbin_at, len(fatbin))
        + section(11, names_at, len(names))
    )


def test_other_architectures_are_zeroed_and_the_kept_one_is_untouched(tmp_path):
    sm80, sm90, sm120 = b'\x80' * 40, b'\x90' * 48, b'\x12' * 24
    fatbin = container(entry(80, sm80), entry(90, sm90)) + bytes(8) + container(entry(120, sm120))
    library = tmp_path / 'lib.so'
    library.write_bytes(elf_with_fatbin(fatbin))
    before = library.read_bytes()

    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(library), '--keep', '90'],
        capture_output=True,
        text=True,
        check=True,
    )
    after = library.read_bytes()
    assert len(after) == len(before)
    assert before.count(sm80) == 1 and after.count(sm80) == 0  # the other architecture: zeros
    assert after.count(sm90) == 1 and after.index(sm90) == before.index(sm90)  # kept in place
    assert after.count(sm120) == 1  # a container without sm_90 stays whole
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == list(
        range(before.index(sm80), before.index(sm80) + len(sm80))
    )
    assert '2 containers, 0.0 MB of other architectures zeroed, 1 without sm_90' in done.stdout


def test_a_file_that_is_not_an_elf_library_is_refused_in_one_line(tmp_path):
    spec = importlib.util.spec_from_file_location('fatbin_keep_arch', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit, match='not a 64-bit little-endian ELF file'):
        module.keep_arch(bytearray(b'MZ' + bytes(100)), 90)
    no_fatbin = bytearray(elf_with_fatbin(b''))
    no_fatbin[no_fatbin.index(b'.nv_fatbin') + 1] = ord('m')  # the section renamed .mv_fatbin
    with pytest.raises(SystemExit, match='no .nv_fatbin section'):
        module.keep_arch(no_fatbin, 90)
