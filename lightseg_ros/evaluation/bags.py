"""rosbag2 reading and writing without a ROS install, through the ``rosbags`` package.

Both storage formats (sqlite3 and MCAP) are read and written. Messages stay as CDR bytes until a
caller decodes them, so replay into a live node can publish them unchanged.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BagError", "BagMessage", "open_bag", "read_topic", "AtomicBagWriter", "typestore", "image_message",
    "IMAGE_TYPE", "COMPRESSED_TYPE",
]

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"


class BagError(ValueError):
    """A bag is missing, unreadable, empty, or lacks a requested topic; the message says which."""


def typestore():
    from rosbags.typesys import Stores, get_typestore

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

    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    if not (path / "metadata.yaml").is_file():
        raise BagError(f"{path} is not a rosbag2 folder (no metadata.yaml)")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises several error types for broken bags
        raise BagError(f"cannot read bag {path}: {exc}") from exc
    try:
        if reader.message_count == 0:
            raise BagError(f"bag {path} holds no messages")
        yield reader
    finally:
        reader.close()


def read_topic(reader, topic: str, *, expect: tuple[str, ...] = (IMAGE_TYPE, COMPRESSED_TYPE)) -> Iterator[BagMessage]:
    """Yield a topic's messages in recorded order; raises BagError naming the topics the bag has."""
    conns = [c for c in reader.connections if c.topic == topic]
    if not conns:
        have = ", ".join(f"{c.topic} [{c.msgtype}]" for c in reader.connections)
        raise BagError(f"topic {topic!r} is not in the bag; it has: {have}")
    if conns[0].msgtype not in expect:
        raise BagError(f"topic {topic!r} has type {conns[0].msgtype}; expected one of {expect}")
    store = typestore()
    try:
        for conn, log_time, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            yield BagMessage(topic, conn.msgtype, log_time, stamp, bytes(raw), msg)
    except BagError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt chunks surface as various errors
        raise BagError(f"cannot read topic {topic!r} from the bag: {exc}") from exc


def image_message(store, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
    """A rosbags ``sensor_msgs/Image`` holding ``array`` (H, W[, C]) uint8."""
    t = store.types
    header = t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
        frame_id=frame_id,
    )
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    return t[IMAGE_TYPE](
        header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
        step=array.strides[0], data=array.reshape(-1).view(np.uint8),
    )


class AtomicBagWriter:
    """Writes a bag into ``<out>.partial`` and renames it to ``out`` only when closed without error.

    A failure leaves nothing at ``out`` (and removes the partial folder), so a half-written bag is
    never mistaken for a result.
    """

    def __init__(self, out: str | Path, *, storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.out = Path(out)
        if self.out.exists():
            raise BagError(f"output bag {self.out} already exists; choose another path or remove it")
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise BagError(f"unknown storage {storage!r}; accepted: {', '.join(plugins)}")
        self.partial = self.out.with_name(self.out.name + ".partial")
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.store = typestore()
        self.writer = Writer(self.partial, version=9, storage_plugin=plugins[storage])
        self.connections: dict[str, Any] = {}

    def __enter__(self) -> "AtomicBagWriter":
        self.writer.open()
        return self

    def write(self, topic: str, msg: Any, msgtype: str, log_time_ns: int) -> None:
        self.write_raw(topic, msgtype, self.store.serialize_cdr(msg, msgtype), log_time_ns)

    def write_raw(self, topic: str, msgtype: str, raw: bytes, log_time_ns: int) -> None:
        """Write already-serialized CDR bytes (e.g. exactly as received from a node)."""
        conn = self.connections.get(topic)
        if conn is None:
            conn = self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.store)
        self.writer.write(conn, log_time_ns, raw)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.writer.close()
        finally:
            if exc_type is None:
                self.partial.rename(self.out)
            else:
                shutil.rmtree(self.partial, ignore_errors=True)
