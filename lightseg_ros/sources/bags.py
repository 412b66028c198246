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
rosbag2 reading and writing without a ROS install, through the ``rosbags`` package.

Both storage formats (sqlite3 and MCAP) are read and written. Messages stay as CDR bytes until a
caller decodes them, so replay into a live node can publish them unchanged.

Integrity: MCAP chunks carry a CRC-32 of their records, which the rosbags writer leaves at 0 (no
check). :class:`AtomicBagWriter` fills them in (:func:`seal_mcap_crcs`) before the bag gets its
name, and :func:`damaged_chunks` finds the chunks whose CRC does not match, so that a reader can
skip (and count) their messages instead of stopping at the first one. sqlite3 bags carry no
checksums.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
import os
from pathlib import Path, PurePath
import shutil
import struct
from typing import Any
import zlib

import numpy as np

__all__ = [
    'BagError',
    'BagMessage',
    'open_bag',
    'read_topic',
    'AtomicBagWriter',
    'typestore',
    'image_message',
    'IMAGE_TYPE',
    'COMPRESSED_TYPE',
    'DamagedChunk',
    'damaged_chunks',
    'MAX_CHUNK_BYTES',
    'seal_mcap_crcs',
    'shown_path',
    'topic_count',
]

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'


# the longest reason quoted from a library's error about a bag (its own text can be any length)
_MAX_REASON = 300


def _reason(exc: BaseException) -> str:
    """Return a library's error as one line of at most ``_MAX_REASON`` characters."""
    # rosbags quotes a broken metadata.yaml over several lines (PyYAML's error)
    why = ' '.join(str(exc).split())
    return why if len(why) <= _MAX_REASON else why[: _MAX_REASON - 3] + '...'


def shown_path(path: str | Path) -> str:
    """
    Return ``path`` as it goes into a one-line message: as is, or quoted with escapes.

    A name may hold a newline or another control character (any byte but ``/`` and NUL is
    allowed), which printed as is would start a line of its own, one that reads like the tool's
    own output. Such a name is shown as ``repr`` shows it; any other name is shown unchanged.
    """
    text = str(path)
    return text if text.isprintable() else repr(text)


def _os_reason(exc: OSError) -> str:
    """Return what the system said about a path (``File name too long``), without the path."""
    return exc.strerror or type(exc).__name__


class BagError(ValueError):
    """A bag is missing, unreadable, empty, or lacks a requested topic; the message says which."""


def typestore():
    from rosbags.typesys import get_typestore, Stores

    return get_typestore(Stores.ROS2_KILTED)


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    log_time_ns: int  # when the recorder received it
    stamp_ns: int  # header.stamp of the message
    raw: bytes  # CDR bytes, exactly as recorded
    msg: Any  # the deserialized message (rosbags dataclass)


@contextmanager
def open_bag(path: str | Path):
    """Open a rosbag2 folder (or its .mcap/.db3 file) for reading, with clear errors."""
    from rosbags.rosbag2 import Reader

    given = path = Path(path)
    try:
        if path.is_file():
            path = path.parent
        if not path.exists():
            raise BagError(f'bag not found: {shown_path(path)}')
        has_metadata = (path / 'metadata.yaml').is_file()
    except OSError as exc:  # a name too long, a folder on the way that cannot be searched
        raise BagError(f'cannot read bag {shown_path(given)}: {_os_reason(exc)}') from None
    if not has_metadata:
        if given.is_file():
            raise BagError(
                f'{shown_path(given)} is a file, and its folder has no metadata.yaml: give a '
                'rosbag2 folder (metadata.yaml beside its .mcap or .db3 files) or one of those '
                'files'
            )
        raise BagError(f'{shown_path(path)} is not a rosbag2 folder (no metadata.yaml)')
    _check_metadata(path)
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises several error types for broken bags
        raise BagError(f'cannot read bag {shown_path(path)}: {_reason(exc)}') from exc
    try:
        if reader.message_count == 0:
            raise BagError(f'bag {shown_path(path)} holds no messages')
        yield reader
    finally:
        reader.close()


# metadata.yaml: its size, and how many values it may hold once its YAML aliases are followed
MAX_METADATA_BYTES = 4 << 20
_MAX_METADATA_VALUES = 100_000
# free space a whole-file decompression must leave in the temporary folder
_KEEP_FREE_BYTES = 1 << 30


def _check_metadata(folder: Path) -> None:
    """
    Refuse (BagError) what rosbags would take without a bound, before it reads the bag.

    A metadata.yaml whose aliases multiply (rosbags quotes a bad field whole: a 1.4 KB file took
    55 s and 9 GB to report), and a bag compressed per file (``compression_mode: file``), which
    rosbags decompresses whole into the temporary folder: 32 KB of zstd wrote 1 GB. Such a bag's
    files are decompressed here first as a stream, without writing, and refused when they would
    leave less than 1 GiB free there. A metadata.yaml that does not parse is left to rosbags.
    """
    import yaml

    meta = folder / 'metadata.yaml'
    try:
        size = meta.stat().st_size
        if size > MAX_METADATA_BYTES:
            raise BagError(
                f'{shown_path(meta)} is {size} bytes; a rosbag2 metadata.yaml is at most '
                f'{MAX_METADATA_BYTES >> 20} MiB here'
            )
        data = yaml.safe_load(meta.read_bytes())
    except (OSError, yaml.YAMLError, RecursionError):
        return  # rosbags reports it in its own words
    stack, count = [data], 0
    while stack:
        item = stack.pop()
        count += 1
        if count > _MAX_METADATA_VALUES:
            raise BagError(
                f'{shown_path(meta)} holds more than {_MAX_METADATA_VALUES} values (YAML aliases '
                'that multiply?); not a metadata.yaml rosbag2 writes'
            )
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    info = data.get('rosbag2_bagfile_information') if isinstance(data, dict) else None
    mode = info.get('compression_mode') if isinstance(info, dict) else None
    files = info.get('relative_file_paths') if isinstance(info, dict) else None
    if not (isinstance(mode, str) and mode.lower() == 'file' and isinstance(files, list)):
        return
    _check_decompressed_room(folder, [PurePath(str(name)).name for name in files])


def _check_decompressed_room(folder: Path, names: list[str]) -> None:
    """Refuse a per-file compressed bag that would not fit the temporary folder decompressed."""
    import tempfile

    try:
        from backports import zstd  # rosbags' own dependency for zstd bags
    except ImportError:  # pragma: no cover - Python 3.14 has compression.zstd
        from compression import zstd  # type: ignore[no-redef]

    tmp = tempfile.gettempdir()
    room = _free_bytes(tmp) - _KEEP_FREE_BYTES
    total = 0
    for name in names:
        try:
            with (folder / name).open('rb') as raw, zstd.open(raw, 'rb') as stream:
                while total <= room and (piece := stream.read(_PIECE)):
                    total += len(piece)
        except (OSError, EOFError, ValueError, zstd.ZstdError):
            return  # not zstd, missing, damaged: rosbags reports it in its own words
        if total > room:
            raise BagError(
                f'bag {shown_path(folder)} is compressed per file and decompresses to more than '
                f'the {max(room, 0) >> 20} MiB {tmp} can take (1 GiB kept free); decompress it '
                'where there is room (zstd -d) and give that copy'
            )


def _free_bytes(folder: str) -> int:
    return shutil.disk_usage(folder).free


def topic_count(reader, topic: str) -> int:
    """Messages the bag's index says ``topic`` holds."""
    return sum(c.msgcount for c in reader.connections if c.topic == topic)


def read_topic(
    reader,
    topic: str,
    *,
    expect: tuple[str, ...] = (IMAGE_TYPE, COMPRESSED_TYPE),
    skip: list[DamagedChunk] | None = None,
    on_malformed: Callable[[str], None] | None = None,
) -> Iterator[BagMessage]:
    """
    Yield a topic's messages in recorded order; raises BagError naming the topics the bag has.

    ``skip``: damaged chunks (:func:`damaged_chunks`) whose time ranges are not read. With
    ``on_malformed``, a message that cannot be deserialized is reported to it and skipped instead
    of ending the iteration with a BagError.
    """
    conns = [c for c in reader.connections if c.topic == topic]
    if not conns:
        # a crafted bag's names may hold newlines: shown escaped, so they cannot forge a line
        have = ', '.join(shown_path(f'{c.topic} [{c.msgtype}]') for c in reader.connections)
        raise BagError(f'topic {topic!r} is not in the bag; it has: {have}')
    if conns[0].msgtype not in expect:
        raise BagError(f'topic {topic!r} has type {conns[0].msgtype}; expected one of {expect}')
    store = typestore()
    windows, start = [], 0
    # read around the damaged time ranges
    # a damaged chunk of other topics costs this one nothing: another chunk holds its messages
    relevant = [c for c in skip or [] if c.topics is None or topic in c.topics]
    for chunk in sorted(relevant, key=lambda c: c.start_ns):
        if chunk.start_ns > start:
            windows.append((start, chunk.start_ns))
        start = max(start, chunk.end_ns + 1)
    windows.append((start, None))
    try:
        for window_start, window_stop in windows:
            for conn, log_time, raw in reader.messages(
                connections=conns, start=window_start, stop=window_stop
            ):
                raw = bytes(raw)
                try:
                    # a memoryview: the message's arrays are views of raw, not copies
                    msg = store.deserialize_cdr(memoryview(raw), conn.msgtype)
                    stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                except Exception as exc:  # noqa: BLE001 - malformed CDR raises several types
                    if on_malformed is None:
                        raise BagError(
                            f'message at log time {log_time} on {topic!r} cannot be deserialized: '
                            f'{type(exc).__name__}: {str(exc)[:160]}'
                        ) from None
                    on_malformed(
                        f'message at log time {log_time} cannot be deserialized '
                        f'({type(exc).__name__})'
                    )
                    continue
                yield BagMessage(topic, conn.msgtype, log_time, stamp, raw, msg)
    except BagError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt chunks surface as various errors
        raise BagError(f'cannot read topic {topic!r} from the bag: {_reason(exc)}') from exc


@dataclass(frozen=True)
class DamagedChunk:
    file: str
    offset: int  # of the chunk record in the file
    start_ns: int  # log-time range of its messages
    end_ns: int
    reason: str
    # the topics its messages are on (its MessageIndex records, named by the file's Channel
    # records); None where the file does not say, and then every topic skips its time range
    topics: frozenset[str] | None = None


_MCAP_MAGIC = b'\x89MCAP0\r\n'

# A chunk header: start, end, uncompressed size (u64 each), CRC (u32), the compression's name
# (u32 length, then its bytes) and the records' size (u64): 40 bytes with an empty name.
_CHUNK_HEAD_MIN = 8 + 8 + 8 + 4 + 4 + 8

#: The most bytes a compressed chunk may declare its records take, uncompressed. A reader holds a
#: chunk's records whole in memory (rosbags does), so a few KB of zstd that declare 800 MB would
#: cost 800 MB; such a chunk is reported damaged and its messages are not read. A chunk holds whole
#: messages (writers close one at about 1 MB: rosbag2's 768 KB, rosbags' 1 MiB), so only a single
#: message larger than this would need more: twice the largest frame the node accepts (33.2 Mpix
#: bgra8 is 133 MB).
MAX_CHUNK_BYTES = 256 << 20

# decompressed a piece at a time: the CRC runs over the pieces, so a chunk never lies whole in
# memory here
_PIECE = 1 << 20


def _mcap_chunks(path: Path):
    """
    Return every chunk in an MCAP file's data section.

    Each chunk is (record offset, start, end, crc, compression, records offset, records size,
    uncompressed size).

    Hand-written record walk (the format is a magic string then ``opcode u8, length u64, body``
    records): rosbags reads MCAP but exposes no chunk access, and the ``mcap`` package is not a
    dependency of this project. Every length read is checked against the record that holds it, so
    a damaged file is a BagError naming the byte, never a read past a record.
    """
    shown = shown_path(path)
    with open(path, 'rb') as f:
        if f.read(8) != _MCAP_MAGIC:
            raise BagError(f'{shown} is not an MCAP file (bad magic)')
        end = len(_MCAP_MAGIC)  # where the next record starts
        for offset, opcode, length in _mcap_records(f, shown):
            end = offset + 9 + length
            if opcode == 0x0F:  # DataEnd: the summary follows
                return
            if opcode != 0x06:
                continue
            if length < _CHUNK_HEAD_MIN:
                raise BagError(
                    f'{shown} is damaged: the chunk at byte {offset} is shorter than its header '
                    f'({length} bytes; a chunk header takes at least {_CHUNK_HEAD_MIN})'
                )
            start, end, uncompressed, crc, name_len = struct.unpack('<QQQII', f.read(32))
            if _CHUNK_HEAD_MIN + name_len > length:
                raise BagError(
                    f'{shown} is damaged: the chunk at byte {offset} is shorter than its header '
                    f'(its compression name of {name_len} bytes runs past its record)'
                )
            compression = f.read(name_len).decode(errors='replace')
            (records_size,) = struct.unpack('<Q', f.read(8))
            records_at = f.tell()
            if records_at + records_size > offset + 9 + length:
                raise BagError(
                    f'{shown} is damaged: the chunk at byte {offset} is longer than its record'
                )
            yield offset, start, end, crc, compression, records_at, records_size, uncompressed
        raise BagError(
            f'{shown} is damaged: the data section ends without a DataEnd record (byte {end})'
        )


def _mcap_records(f, shown: str) -> Iterator[tuple[int, int, int]]:
    """
    Yield (offset, opcode, body length) of an MCAP file's records, from the file's position.

    The file is at the record's body when each is yielded, whatever the caller reads of it. Ends
    at the end of the file; a record that runs past it is a :class:`BagError`.
    """
    size = os.fstat(f.fileno()).st_size
    while True:
        offset = f.tell()
        head = f.read(9)
        if len(head) < 9:
            return
        opcode, length = head[0], struct.unpack('<Q', head[1:])[0]
        if offset + 9 + length > size:
            raise BagError(
                f'{shown} is damaged: a record at byte {offset} runs past the end of the file'
            )
        yield offset, opcode, length
        f.seek(offset + 9 + length)


def _mcap_chunk_topics(path: Path, wanted: set[int]) -> dict[int, frozenset[str] | None]:
    """
    Return the topics of the chunks at offsets ``wanted``, None for a chunk the file leaves unsaid.

    The MessageIndex records that follow a chunk give its channel ids; the Channel records outside
    chunks (the data section's, the summary's) give their topics. The same hand-written record
    walk as :func:`_mcap_chunks`, headers only (rosbags exposes neither); any surprise ends it,
    leaving the chunks it had not settled as None.
    """
    names: dict[int, str] = {}
    ids: dict[int, set[int]] = {offset: set() for offset in wanted}
    current = None
    with open(path, 'rb') as f:
        f.seek(len(_MCAP_MAGIC))
        try:
            for offset, opcode, length in _mcap_records(f, shown_path(path)):
                if opcode == 0x02:  # the Footer
                    break
                if opcode == 0x06:
                    current = offset if offset in ids else None
                elif opcode == 0x07:  # MessageIndex: channel id (u16), then the index
                    if current is not None and length >= 2:
                        ids[current].add(struct.unpack('<H', f.read(2))[0])
                else:
                    current = None
                    if opcode == 0x04 and length >= 8:  # Channel: id, schema, topic (u32, bytes)
                        cid, _, n = struct.unpack('<HHI', f.read(8))
                        if 8 + n <= length and n <= 4096:
                            names[cid] = f.read(n).decode(errors='replace')
        except BagError:  # a damaged summary: the chunks not settled stay None
            pass
    return {
        offset: frozenset(names[c] for c in channels)
        if channels and all(c in names for c in channels)
        else None
        for offset, channels in ids.items()
    }


def _decompressor(compression: str):
    """Return a new streaming decompressor for a chunk's compression; None where not read here."""
    if compression == 'zstd':
        try:
            from backports import zstd  # rosbags' own dependency for zstd chunks
        except ImportError:  # pragma: no cover - Python 3.14 has compression.zstd
            from compression import zstd  # type: ignore[no-redef]
        return zstd.ZstdDecompressor()
    if compression == 'lz4':
        from lz4.frame import LZ4FrameDecompressor  # rosbags' own dependency for lz4 chunks

        return LZ4FrameDecompressor()
    return None


def _decompressed(compression: str, data: bytes, limit: int) -> Iterator[bytes]:
    """
    Yield ``data`` decompressed, a piece of at most ``_PIECE`` bytes at a time.

    Frame after frame (a writer may emit several); it stops once more than ``limit`` bytes came
    out, so a bomb costs ``limit`` bytes of work and one piece of memory. ValueError where the
    data ends inside a frame.
    """
    total = 0
    while True:
        decompressor = _decompressor(compression)
        piece = decompressor.decompress(data, min(_PIECE, limit + 1 - total))
        while True:
            total += len(piece)
            yield piece
            if total > limit or decompressor.eof:
                break
            if decompressor.needs_input or not piece:
                raise ValueError('the compressed data ends inside a frame')
            piece = decompressor.decompress(b'', min(_PIECE, limit + 1 - total))
        data = decompressor.unused_data
        if total > limit or not data:
            return


def _chunk_problem(f, chunk: tuple) -> str | None:
    """
    Say what is wrong with a chunk, or None: a size it cannot have, records that fail its CRC.

    A compressed chunk's declared size is checked whatever its CRC (a reader allocates it), and
    its records are decompressed no further than that size. An uncompressed chunk with CRC 0
    (unset), and a compression not read here, are not read.
    """
    _, _, _, crc, compression, records_at, records_size, uncompressed = chunk
    if compression == '':
        if records_size != uncompressed:
            return f'holds {records_size} bytes of records but declares {uncompressed}'
        if crc == 0:
            return None
        f.seek(records_at)
        found, left = 0, records_size
        while left:
            piece = f.read(min(_PIECE, left))
            if not piece:  # the file was cut while read: what is there fails the CRC
                break
            found, left = zlib.crc32(piece, found), left - len(piece)
    else:
        if uncompressed > MAX_CHUNK_BYTES:
            return (
                f'declares {uncompressed} bytes of records uncompressed, above the '
                f'{MAX_CHUNK_BYTES} accepted; not decompressed'
            )
        if compression not in ('zstd', 'lz4'):
            return None  # the reader says it cannot read it
        f.seek(records_at)
        found, size = 0, 0
        try:
            for piece in _decompressed(compression, f.read(records_size), uncompressed):
                found, size = zlib.crc32(piece, found), size + len(piece)
        except Exception as exc:  # noqa: BLE001 - damaged compressed data raises several types
            return f'its {compression} data cannot be decompressed ({_reason(exc)[:120]})'
        if size > uncompressed:
            return f'its {compression} data holds more than the {uncompressed} bytes it declares'
        if size < uncompressed:
            return f'its {compression} data holds {size} bytes, not the {uncompressed} it declares'
        if crc == 0:
            return None
    if found != crc:
        return f'CRC {found:08x} != recorded {crc:08x}'
    return None


def damaged_chunks(bag: str | Path) -> list[DamagedChunk]:
    """
    Return the chunks of a bag's MCAP files that a reader must not read.

    Those whose CRC is set and does not match their records, and those whose records are not the
    size they declare or (compressed) declare more than :data:`MAX_CHUNK_BYTES`: a few KB of zstd
    can declare, or hold, gigabytes. None for sqlite3 bags, which carry no checksums. Chunks with
    CRC 0 (unset) have their sizes checked only. Memory stays at one compressed chunk and a MiB of
    its records, whatever the file holds. A file whose records cannot be walked is a
    :class:`BagError`.
    """
    bag = Path(bag)
    try:
        folder = bag.parent if bag.is_file() else bag
        found = folder.iterdir() if folder.is_dir() else ()  # a missing bag is said elsewhere
        paths = sorted(p for p in found if p.suffix.lower() == '.mcap' and p.is_file())
    except OSError as exc:  # a name too long, a folder on the way that cannot be searched
        raise BagError(f'cannot read bag {shown_path(bag)}: {_os_reason(exc)}') from None
    damaged = []
    for path in paths:
        found = []
        with open(path, 'rb') as f:
            for chunk in _mcap_chunks(path):
                problem = _chunk_problem(f, chunk)
                if problem is not None:
                    offset, start, end = chunk[:3]
                    found.append(DamagedChunk(path.name, offset, start, end, problem))
        if found:
            topics = _mcap_chunk_topics(path, {d.offset for d in found})
            found = [replace(d, topics=topics.get(d.offset)) for d in found]
        damaged += found
    return damaged


def seal_mcap_crcs(path: str | Path) -> int:
    """
    Write the CRC-32 of each uncompressed chunk's records into its header.

    In place: a fixed-size field, no offset moves. Returns the number of chunks sealed.
    """
    path = Path(path)
    sealed = []
    with open(path, 'rb') as f:
        for offset, _, _, crc, compression, at, size, _ in _mcap_chunks(path):
            if crc == 0 and compression == '':
                f.seek(at)
                sealed.append((offset, zlib.crc32(f.read(size))))
    with open(path, 'r+b') as f:
        for offset, crc in sealed:
            f.seek(offset + 9 + 24)  # opcode, length, start, end, uncompressed size: then the CRC
            f.write(struct.pack('<I', crc))
    return len(sealed)


def image_message(store, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
    """Return a rosbags ``sensor_msgs/Image`` holding ``array`` (H, W[, C]) uint8 or uint16."""
    t = store.types
    header = t['std_msgs/msg/Header'](
        stamp=t['builtin_interfaces/msg/Time'](
            sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000
        ),
        frame_id=frame_id,
    )
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    return t[IMAGE_TYPE](
        header=header,
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=int(array.dtype.str[0] == '>'),  # '<', '|' (bytes) or '>'
        step=array.strides[0],
        data=array.reshape(-1).view(np.uint8),
    )


class AtomicBagWriter:
    """
    Writes a bag into the staging folder ``<out>.partial``, moved to ``out`` when done.

    It is moved only when closed without error; MCAP chunks get their CRCs (:func:`seal_mcap_crcs`)
    first.

    The bag is written as ``<out>.partial/<out name>/``, so its storage file (which rosbags names
    after the folder) and ``metadata.yaml`` carry the final name, never ``.partial``. A failure
    leaves nothing at ``out`` (and removes the staging folder), so a half-written bag is never
    mistaken for a result.
    """

    def __init__(self, out: str | Path, *, storage: str = 'mcap') -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.out = self.check_free(out)
        plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise BagError(f'unknown storage {storage!r}; accepted: {", ".join(plugins)}')
        self.partial = self.out.with_name(self.out.name + '.partial')
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self.bag_dir = self.partial / self.out.name
        self.store = typestore()
        # format 8: rosbag2 before format 9 (Humble, Iron) reads offered_qos_profiles as a string,
        # and format 9 writes it as a list, which they cannot read; Jazzy and newer read both
        self.writer = Writer(self.bag_dir, version=8, storage_plugin=plugins[storage])
        self.connections: dict[str, Any] = {}

    @staticmethod
    def check_free(out: str | Path) -> Path:
        """Return ``out`` as a Path; a BagError when something is there already."""
        out = Path(out)
        if out.exists():
            raise BagError(f'output bag {out} already exists; choose another path or remove it')
        return out

    def __enter__(self) -> 'AtomicBagWriter':
        self.writer.open()
        return self

    def write(self, topic: str, msg: Any, msgtype: str, log_time_ns: int) -> None:
        self.write_raw(topic, msgtype, self.store.serialize_cdr(msg, msgtype), log_time_ns)

    def write_raw(self, topic: str, msgtype: str, raw: bytes, log_time_ns: int) -> None:
        """Write already-serialized CDR bytes (e.g. exactly as received from a node)."""
        conn = self.connections.get(topic)
        if conn is None:
            conn = self.connections[topic] = self.writer.add_connection(
                topic, msgtype, typestore=self.store
            )
        self.writer.write(conn, log_time_ns, raw)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.writer.close()
            if exc_type is None:
                for path in self.bag_dir.glob('*.mcap'):
                    seal_mcap_crcs(path)
                self.bag_dir.rename(self.out)
        except BaseException:
            if exc_type is None:
                raise
            # closing after a failure failed too: the original error is the one to report
        finally:
            shutil.rmtree(self.partial, ignore_errors=True)
