"""TFRecord files and ``tf.train.Example`` protobufs, written and read without TensorFlow.

A TFRecord file is a sequence of records, each framed as (all little-endian)::

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

An Example is a small protobuf (``tensorflow/core/example/{example,feature}.proto``)::

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }
    Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                             Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    FloatList { repeated float value = 1 [packed = true]; }
    Int64List { repeated int64 value = 1 [packed = true]; }

Both are small enough to write by hand, so Spark executors can write shards that are
byte-identical to ``tf.io.TFRecordWriter``'s without TensorFlow installed.
"""

from __future__ import annotations

import io
import numbers
import struct
from typing import BinaryIO, Iterable, Iterator, Mapping, Union

import google_crc32c

Value = Union[bytes, str, int, float, Iterable]

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER_SIZE = _LENGTH.size + _CRC.size
_MASK_DELTA = 0xA282EAD8
_UINT32, _UINT64 = 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF
_INT64_RANGE = range(-(1 << 63), 1 << 63)
_READ_CHUNK = 16 << 20

_KIND_FIELD = {"bytes": 1, "float": 2, "int64": 3}  # Feature's oneof field numbers
_FIELD_KIND = {number: kind for kind, number in _KIND_FIELD.items()}
_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LEN, _WIRE_FIXED32 = 0, 1, 2, 5
_FIXED_SIZES = {_WIRE_FIXED64: 8, _WIRE_FIXED32: 4}
_BYTES_LIKE = (bytes, bytearray, memoryview)


class CorruptRecord(ValueError):
    """A TFRecord whose framing is damaged: a CRC mismatch or a truncated header or body.

    Attributes:
        offset: byte offset of the start of the damaged record in the stream.
        problem: what was wrong, in words.
    """

    def __init__(self, offset: int, problem: str):
        super().__init__(f"corrupt TFRecord at byte {offset}: {problem}")
        self.offset = offset
        self.problem = problem


class FeatureValues(list):
    """A decoded feature's values: a plain list that also knows its ``kind`` (``"bytes"``,
    ``"float"``, ``"int64"``, or None for a Feature with no list), which an empty list cannot show.
    """

    def __init__(self, values: Iterable = (), kind: str | None = None):
        super().__init__(values)
        self.kind = kind


# --- record framing ---------------------------------------------------------------------


def _masked_crc(data: bytes) -> int:
    # CRCs of data that embeds CRCs (say, a TFRecord file stored in a record) are weak, so, like
    # the LevelDB log format it comes from, TFRecord stores each CRC masked: rotated and offset.
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _UINT32


def _frame_parts(payload: bytes) -> tuple[bytes, bytes, bytes]:
    length = _LENGTH.pack(len(payload))
    return length + _CRC.pack(_masked_crc(length)), payload, _CRC.pack(_masked_crc(payload))


def frame(payload: bytes) -> bytes:
    """Frame one record the way ``tf.io.TFRecordWriter`` does (no compression).

    Args:
        payload: the record's data, usually a serialized Example.

    Returns:
        ``len(payload) + 16`` bytes.
    """
    return b"".join(_frame_parts(bytes(payload)))


class RecordWriter:
    """Writes framed records to a binary sink and counts them.

    The sink (anything with ``write(bytes)``) belongs to the caller, who closes it.

    Attributes:
        records: number of records written.
        nbytes: number of bytes written, framing included.
    """

    def __init__(self, sink: BinaryIO):
        self._sink = sink
        self.records = 0
        self.nbytes = 0

    def write(self, payload: bytes) -> int:
        """Frame ``payload`` and write it; returns the number of bytes written."""
        parts = _frame_parts(bytes(payload))
        for part in parts:
            self._sink.write(part)
        size = sum(map(len, parts))
        self.records += 1
        self.nbytes += size
        return size


def iter_records(source: bytes | BinaryIO) -> Iterator[bytes]:
    """Read the records of a TFRecord file, verifying lengths and both CRCs.

    Args:
        source: the whole file as bytes, or a binary file object positioned at a record.

    Yields:
        Each record's data.

    Raises:
        CorruptRecord: a CRC mismatch or a truncated record, with its byte offset.
    """
    stream = io.BytesIO(source) if isinstance(source, _BYTES_LIKE) else source
    offset = 0
    while header := _read_exact(stream, _HEADER_SIZE):
        data = _read_record(stream, header, offset)
        yield data
        offset += _HEADER_SIZE + len(data) + _CRC.size


def framed_records(data: bytes) -> Iterator[tuple[bytes, memoryview]]:
    """The records of a whole TFRecord file in memory, as (data, the framed record as a view
    into ``data``), verifying lengths and both CRCs: a record is copied to another file as it
    is, framing included, with no CRC computed for it again.

    Raises:
        CorruptRecord: a CRC mismatch or a truncated record, with its byte offset.
    """
    view, offset = memoryview(data), 0
    while offset < len(view):
        length = _record_length(bytes(view[offset:offset + _HEADER_SIZE]), offset)
        start = offset + _HEADER_SIZE
        end = start + length + _CRC.size
        payload = bytes(view[start:start + length])   # google_crc32c takes bytes only
        _check_data(payload, bytes(view[start + length:end]), length, offset)
        yield payload, view[offset:end]
        offset = end


def _read_record(stream: BinaryIO, header: bytes, offset: int) -> bytes:
    length = _record_length(header, offset)
    data = _read_exact(stream, length)
    _check_data(data, _read_exact(stream, _CRC.size), length, offset)
    return data


def _record_length(header: bytes, offset: int) -> int:
    """A record's data length from its header, checked."""
    if len(header) < _HEADER_SIZE:
        raise CorruptRecord(offset, f"truncated header: {len(header)} of {_HEADER_SIZE} bytes")
    length_bytes = header[: _LENGTH.size]
    (length,) = _LENGTH.unpack(length_bytes)
    (length_crc,) = _CRC.unpack_from(header, _LENGTH.size)
    if _masked_crc(length_bytes) != length_crc:
        raise CorruptRecord(offset, "length CRC mismatch (the length field is damaged)")
    return length


def _check_data(data: bytes, footer: bytes, length: int, offset: int) -> None:
    """A record's data and its footer (the data's CRC), whole and matching."""
    if len(data) + len(footer) < length + _CRC.size:
        raise CorruptRecord(offset, f"truncated data: expected {length + _CRC.size} bytes "
                                    f"after the header, got {len(data) + len(footer)}")
    if _masked_crc(data) != _CRC.unpack(footer)[0]:
        raise CorruptRecord(offset, f"data CRC mismatch over {length} bytes")


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    # Streams (sockets, S3 bodies) may return short reads before EOF; reading in bounded chunks
    # also keeps a damaged-but-plausible length from allocating a huge buffer up front.
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# --- Example encoding -------------------------------------------------------------------


def encode_example(features: Mapping[str, Value], kinds: Mapping[str, str] | None = None) -> bytes:
    """Serialize a ``tf.train.Example``, byte-identical to TF's deterministic serialization.

    Args:
        features: key -> one value or a list of values. ``bytes``/``str`` (UTF-8) make a
            bytes_list, ints an int64_list, other reals a float_list (stored as float32).
        kinds: optional key -> ``"bytes"``/``"int64"``/``"float"``; needed for empty lists,
            whose kind cannot be inferred, and to store ints as floats.

    Returns:
        The serialized Example, map entries in sorted key order.

    Raises:
        ValueError: naming the key, when a value does not fit its kind.
    """
    kinds = kinds or {}
    entries = []
    for key in sorted(features, key=_map_order):
        kind, values = _typed_values(key, features[key], kinds.get(key))
        entry = _len_field(1, _utf8(key)) + _len_field(2, _encode_feature(key, kind, values))
        entries.append(_len_field(1, entry))
    return _len_field(1, b"".join(entries))


def _typed_values(key: str, value: Value, kind: str | None) -> tuple[str, list]:
    values = [value] if isinstance(value, (str, numbers.Number) + _BYTES_LIKE) else list(value)
    kind = kind or _infer_kind(key, values)
    if kind not in _KIND_FIELD:
        raise ValueError(f"feature {key!r}: expected kind bytes, float or int64, got {kind!r}")
    for item in values:
        if not _fits(kind, item):
            raise ValueError(f"feature {key!r}: expected {kind} values, "
                             f"got {type(item).__name__} {item!r:.60}")
    return kind, values


def _infer_kind(key: str, values: list) -> str:
    if not values:
        raise ValueError(f"feature {key!r}: an empty list has no kind; pass kinds={{{key!r}: ...}}")
    kinds = {value_kind(item) for item in values}
    if kinds == {"int64", "float"}:
        return "float"  # ints among floats, as in [1, 2.5]
    if len(kinds) > 1 or None in kinds:
        raise ValueError(f"feature {key!r}: expected values of one kind, got {values!r:.80}")
    return kinds.pop()


def value_kind(item: object) -> str | None:
    """The Feature list kind a single value belongs in: ``"bytes"``, ``"int64"``, ``"float"``,
    or None for a value that fits none."""
    if type(item) is int:  # the common case, without the slow abstract-class check below
        return "int64"
    if isinstance(item, (str,) + _BYTES_LIKE):
        return "bytes"
    if isinstance(item, numbers.Integral):
        return "int64"
    return "float" if isinstance(item, numbers.Real) else None


def _fits(kind: str, item: object) -> bool:
    found = value_kind(item)
    if kind == "int64":
        return found == "int64" and int(item) in _INT64_RANGE
    return found == kind or (kind == "float" and found == "int64")


def _encode_feature(key: str, kind: str, values: list) -> bytes:
    if kind == "bytes":
        body = b"".join(_len_field(1, _utf8(item) if isinstance(item, str) else bytes(item))
                        for item in values)
    elif kind == "int64":
        body = b"".join(_varint(int(item)) for item in values)
    else:
        try:
            body = struct.pack(f"<{len(values)}f", *values)
        except OverflowError:
            raise ValueError(f"feature {key!r}: a value is out of float32 range") from None
    if kind != "bytes" and body:
        body = _len_field(1, body)  # packed repeated field; omitted when empty, as protobuf does
    return _len_field(_KIND_FIELD[kind], body)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _WIRE_LEN) + _varint(len(payload)) + payload


# Tags, lengths under 128 and 0/1 flags are most of an Example's varints: one lookup each.
_SMALL_VARINTS = tuple(bytes((i,)) for i in range(0x80))


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL_VARINTS[value]
    value &= _UINT64  # a negative int64 becomes its 64-bit two's complement: 10 bytes
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _map_order(key: str) -> tuple[int, ...]:
    # The order of protobuf-python's (upb) deterministic map serialization, what TF's Python
    # API writes: by UTF-8 bytes, but a key sorts after the longer keys it is a prefix of
    # ("ab" before "a"). No cxrpipe key is a prefix of another, so for them it is a byte sort.
    return (*_utf8(key), 256)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


# --- Example decoding -------------------------------------------------------------------


def decode_example(data: bytes, keys: frozenset[str] | None = None) -> dict[str, FeatureValues]:
    """Parse a serialized ``tf.train.Example`` without TensorFlow.

    Accepts packed and unpacked repeated int64/float fields and skips unknown fields.

    Args:
        data: the serialized Example (one TFRecord record).
        keys: decode only these features (the others are skipped, not parsed); None: all.

    Returns:
        key -> FeatureValues: a list of bytes, ints or floats carrying its ``kind``.

    Raises:
        ValueError: the bytes are not a well-formed Example.
    """
    features: dict[str, FeatureValues] = {}
    for number, wire, value in _fields(memoryview(data)):
        if number == 1 and wire == _WIRE_LEN:
            for entry_number, entry_wire, entry in _fields(value):
                if entry_number == 1 and entry_wire == _WIRE_LEN:
                    key, feature = _decode_map_entry(entry, keys)
                    if feature is not None:
                        features[key] = feature
    return features


def first_texts(data: bytes, keys: frozenset[str]) -> dict[str, bytes]:
    """The first value of some bytes features of a serialized Example, reading only the map
    entries' keys until all are found (about 8 us a record against decode_example's 55): what
    an update's shard writer needs of each record it copies. An Example laid out otherwise
    than the usual Example > Features > map entries (other fields, unpacked lists) is decoded
    whole instead.

    Raises:
        ValueError: a feature is missing or holds no bytes, or the bytes are not an Example.
    """
    try:
        found = _first_texts(data, {key.encode(): key for key in keys})
    except (IndexError, ValueError):
        found = None
    if found is None:
        decoded = decode_example(data, keys)
        found = {key: decoded[key][0] for key in keys if decoded.get(key) and decoded[key].kind == "bytes"}
    missing = sorted(keys - found.keys())
    if missing:
        raise ValueError(f"malformed record: no bytes value for {', '.join(missing)}")
    return found


def _first_texts(data: bytes, wanted: dict[bytes, str]) -> dict[str, bytes] | None:
    # Example: 0x0A len Features; Features: (0x0A len entry)*; entry: 0x0A len key 0x12 len
    # Feature; Feature: 0x0A len BytesList; BytesList: 0x0A len value. None: laid out otherwise.
    if data[0] != 0x0A:
        return None
    size, pos = _read_varint(data, 1)
    end, found = pos + size, {}
    if end != len(data):
        return None
    while pos < end and len(found) < len(wanted):
        if data[pos] != 0x0A:
            return None
        size, pos = _read_varint(data, pos + 1)
        entry_end = pos + size
        if data[pos] != 0x0A:
            return None
        key_size, key_at = _read_varint(data, pos + 1)
        key = wanted.get(data[key_at:key_at + key_size])
        if key is not None:
            at, limit = key_at + key_size, entry_end
            for tag in (0x12, 0x0A, 0x0A):   # into the Feature, its BytesList, its first value
                if at >= limit or data[at] != tag:
                    return None
                size, at = _read_varint(data, at + 1)
                limit = at + size
                if limit > entry_end:
                    return None
            found[key] = data[at:limit]
        pos = entry_end
    return found if pos <= end else None


def _decode_map_entry(buf: memoryview, keys: frozenset[str] | None = None) -> tuple[str, FeatureValues | None]:
    key, found = "", None
    for number, wire, value in _fields(buf):
        if number == 1 and wire == _WIRE_LEN:
            key = bytes(value).decode("utf-8")  # a UnicodeDecodeError is a ValueError
        elif number == 2 and wire == _WIRE_LEN:
            found = value
    if keys is not None and key not in keys:
        return key, None
    return key, FeatureValues() if found is None else _decode_feature(found)


def _decode_feature(buf: memoryview) -> FeatureValues:
    feature = FeatureValues()
    for number, wire, value in _fields(buf):
        kind = _FIELD_KIND.get(number)
        if kind is None or wire != _WIRE_LEN:
            continue
        if kind != feature.kind:  # a later oneof member replaces an earlier one
            feature = FeatureValues(kind=kind)
        for item_number, item_wire, item in _fields(value):
            if item_number != 1:
                continue
            if item_wire not in _LIST_WIRES[kind]:
                raise ValueError(f"malformed Example: wire type {item_wire} in a {kind} list")
            feature.extend(_LIST_DECODERS[kind](item_wire, item))
    return feature


def _decode_bytes(wire: int, value: memoryview) -> list[bytes]:
    return [bytes(value)]


def _decode_int64(wire: int, value: int | memoryview) -> list[int]:
    if wire == _WIRE_VARINT:
        return [_signed64(value)]
    raw = bytes(value)
    if not raw or max(raw) < 0x80:   # every item one byte (labels, flags): the bytes are the values
        return list(raw)
    items, pos = [], 0
    while pos < len(value):
        item, pos = _read_varint(value, pos)
        items.append(_signed64(item))
    return items


def _decode_float(wire: int, value: memoryview) -> list[float]:
    if len(value) % 4:
        raise ValueError(f"malformed Example: packed float_list of {len(value)} bytes")
    return list(struct.unpack(f"<{len(value) // 4}f", value))


_LIST_DECODERS = {"bytes": _decode_bytes, "int64": _decode_int64, "float": _decode_float}
# Numbers may come packed (one length-delimited run, what TF writes) or one field each.
_LIST_WIRES = {"bytes": (_WIRE_LEN,), "int64": (_WIRE_VARINT, _WIRE_LEN),
               "float": (_WIRE_FIXED32, _WIRE_LEN)}


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _WIRE_VARINT:
            value, pos = _read_varint(buf, pos)
            yield number, wire, value
            continue
        if wire == _WIRE_LEN:
            size, pos = _read_varint(buf, pos)
        elif wire in _FIXED_SIZES:
            size = _FIXED_SIZES[wire]
        else:
            raise ValueError(f"malformed Example: unsupported wire type {wire} at byte {pos}")
        if pos + size > end:
            raise ValueError(f"malformed Example: field {number} runs past the end")
        yield number, wire, buf[pos:pos + size]
        pos += size


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    if pos < len(buf) and buf[pos] < 0x80:   # most tags and lengths: one byte
        return buf[pos], pos + 1
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(buf):
            raise ValueError("malformed Example: truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & _UINT64, pos
    raise ValueError("malformed Example: varint longer than 10 bytes")


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value
