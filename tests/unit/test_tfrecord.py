"""TFRecord framing and Example encoding, checked against TensorFlow's own writer and reader."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")

from cxrpipe import features as F  # noqa: E402
from cxrpipe.tfrecord import (  # noqa: E402
    CorruptRecord, RecordWriter, decode_example, encode_example, first_texts, frame, framed_records, iter_records,
)

NUM_CLASSES = 14
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
PAYLOADS = [b"", b"x", bytes(range(256)) * 3, random.Random(0).randbytes(1 << 20)]


def _tf_write(path, payloads):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)
    return path.read_bytes()


def _tf_read(path):
    return [bytes(record) for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


def _tf_example(values: dict):
    """The Example TF's own API builds for {key: (kind, values)}."""
    lists = {"bytes": ("bytes_list", tf.train.BytesList),
             "int64": ("int64_list", tf.train.Int64List),
             "float": ("float_list", tf.train.FloatList)}
    feature = {}
    for key, (kind, items) in values.items():
        field, list_type = lists[kind]
        feature[key] = tf.train.Feature(**{field: list_type(value=items)})
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _ours(values: dict) -> bytes:
    """encode_example for the same {key: (kind, values)}."""
    return encode_example({key: items for key, (_, items) in values.items()},
                          {key: kind for key, (kind, _) in values.items()})


def _as_float32(items):
    return np.asarray(items, np.float32).tolist()


def _record_args(**overrides):
    multi_hot = [0] * NUM_CLASSES
    multi_hot[2] = multi_hot[7] = 1
    uncertain = [0] * NUM_CLASSES
    uncertain[5] = 1
    args = dict(encoded=random.Random(1).randbytes(5000), height=299, width=299,
                id="CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg",
                patient_id="patient00001", split="train", partition="Cardiomegaly",
                augmentation="hflip", class_label=[2, 7], class_text=["Cardiomegaly", "Pneumonia"],
                class_multi_hot=multi_hot, class_uncertain=uncertain, primary=1,
                source="chexpert", view="frontal")
    args.update(overrides)
    return args


# Keys that are prefixes of others are where map orders differ (TF's Python API puts "ab" first).
PREFIXED_KEYS = ["b", "a", "aa", "ab", "abc", "", "B", "a/b", "a_b", "é", "z"]

# A mix of every kind, with keys out of order, extreme int64s, an empty list and non-ASCII text.
MIXED = {
    "z/bytes": ("bytes", [b"", b"\x00\xff", "é".encode()]),
    "a/int64": ("int64", [0, 1, -1, 127, 128, 300, INT64_MAX, INT64_MIN, -(1 << 40)]),
    "m/float": ("float", [0.0, -2.25, 0.1, 1e10, float("inf")]),
    "b/empty": ("int64", []),
    "image/encoded": ("bytes", [random.Random(2).randbytes(2000)]),
    "Ü/upper": ("float", []),
    "c/empty_bytes": ("bytes", []),
}


# --- framing ---------------------------------------------------------------------------


def test_framing_is_byte_identical_to_tf_writer(tmp_path):
    expected = _tf_write(tmp_path / "tf.tfrecord", PAYLOADS)
    ours = tmp_path / "ours.tfrecord"
    with ours.open("wb") as sink:
        writer = RecordWriter(sink)
        sizes = [writer.write(payload) for payload in PAYLOADS]
    assert ours.read_bytes() == expected
    assert b"".join(map(frame, PAYLOADS)) == expected
    assert (writer.records, writer.nbytes) == (len(PAYLOADS), len(expected))
    assert sizes == [len(payload) + 16 for payload in PAYLOADS]


def test_iter_records_reads_tf_written_files(tmp_path):
    path = tmp_path / "tf.tfrecord"
    data = _tf_write(path, PAYLOADS)
    assert list(iter_records(data)) == PAYLOADS
    with path.open("rb") as stream:
        assert list(iter_records(stream)) == PAYLOADS
    assert list(iter_records(b"")) == []


def test_framed_records_give_each_record_and_its_framing_as_written(tmp_path):
    data = _tf_write(tmp_path / "tf.tfrecord", PAYLOADS)
    found = list(framed_records(data))
    assert [payload for payload, _ in found] == PAYLOADS
    assert [bytes(framed) for _, framed in found] == [frame(p) for p in PAYLOADS]
    assert list(framed_records(b"")) == []


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


SECOND = 12 + 3 + 4  # offset of the second record when the first holds b"abc"


@pytest.mark.parametrize("damage, problem", [
    (lambda d: _flip(d, SECOND + 12 + 2), "data CRC"),      # a byte of the second record's data
    (lambda d: _flip(d, SECOND + 1), "length CRC"),         # a byte of its length
    (lambda d: _flip(d, SECOND + 9), "length CRC"),         # a byte of its length's CRC
    (lambda d: d[:SECOND + 12 + 3], "truncated data"),      # the file ends inside its data
])
def test_corruption_is_detected_by_us_and_by_tf(tmp_path, damage, problem):
    good = b"".join(map(frame, [b"abc", b"defghijk", b"lmn"]))
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(damage(good))
    for read in (iter_records, framed_records):
        with pytest.raises(CorruptRecord, match=problem) as caught:
            list(read(path.read_bytes()))
        assert caught.value.offset == SECOND
    with pytest.raises(tf.errors.DataLossError):
        _tf_read(path)


def test_truncated_header_is_detected():
    # TF's reader silently stops at a partial header; ours reports it.
    good = frame(b"abc") + frame(b"def")
    for read in (iter_records, framed_records):
        with pytest.raises(CorruptRecord, match="truncated header") as caught:
            list(read(good[:SECOND + 5]))
        assert caught.value.offset == SECOND


# --- Example encoding ------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    MIXED,
    {},
    {"only": ("bytes", [b"jpeg"])},
    {key: ("int64", [i]) for i, key in enumerate(PREFIXED_KEYS)},
], ids=["mixed", "empty", "one", "key-order"])
def test_encode_example_equals_tf_deterministic_serialization(values):
    assert _ours(values) == _tf_example(values).SerializeToString(deterministic=True)


def test_encode_example_infers_kinds_and_takes_scalars():
    ours = encode_example({"s": "text", "b": b"raw", "i": -5, "f": 0.5, "l": [1, 2], "m": [1, 2.5]})
    expected = _tf_example({"s": ("bytes", [b"text"]), "b": ("bytes", [b"raw"]),
                            "i": ("int64", [-5]), "f": ("float", [0.5]),
                            "l": ("int64", [1, 2]), "m": ("float", [1.0, 2.5])})
    assert ours == expected.SerializeToString(deterministic=True)


@pytest.mark.parametrize("features, kinds, message", [
    ({"k": []}, None, "empty list"),
    ({"k": [1, b"x"]}, None, "one kind"),
    ({"k": 1 << 63}, None, "'k': expected int64"),
    ({"k": [1.5]}, {"k": "int64"}, "expected int64"),
    ({"k": [1e300]}, {"k": "float"}, "float32 range"),
    ({"k": [1]}, {"k": "double"}, "expected kind"),
])
def test_encode_example_rejects_values_naming_the_key(features, kinds, message):
    with pytest.raises(ValueError, match=message):
        encode_example(features, kinds)


def test_decode_example_reads_tf_built_examples():
    proto = _tf_example(MIXED)
    for data in (proto.SerializeToString(), proto.SerializeToString(deterministic=True)):
        decoded = decode_example(data)
        assert set(decoded) == set(MIXED)
        for key, (kind, items) in MIXED.items():
            assert decoded[key] == (_as_float32(items) if kind == "float" else items), key
            assert decoded[key].kind == kind, key


def test_decode_example_can_decode_only_some_keys():
    data = _tf_example(MIXED).SerializeToString()
    everything = decode_example(data)
    wanted = frozenset(list(MIXED)[::2]) | {"not in the example"}
    some = decode_example(data, wanted)
    assert set(some) == wanted & set(MIXED) and all(some[k] == everything[k] for k in some)
    assert all(some[k].kind == everything[k].kind for k in some)


def test_first_texts_equal_decode_example_on_tf_and_cxrpipe_examples():
    texts = {"z/bytes": b"", "image/encoded": MIXED["image/encoded"][1][0]}
    ours = encode_example({"image/id": b"00000001_000.png", "image/augmentation": b"hflip", **{
        k: v for k, (_, v) in MIXED.items() if k != "Ü/upper"}}, {k: kind for k, (kind, _) in MIXED.items()})
    proto = _tf_example(MIXED)
    for data in (proto.SerializeToString(), proto.SerializeToString(deterministic=True), ours):
        assert first_texts(data, frozenset({"z/bytes"})) == {"z/bytes": b""}
        assert first_texts(data, frozenset(texts)) == texts
    assert first_texts(ours, frozenset({"image/id", "image/augmentation"})) == {
        "image/id": b"00000001_000.png", "image/augmentation": b"hflip"}


def test_first_texts_fall_back_to_a_whole_decode_for_other_layouts():
    """An Example with an unknown field after its features, and one whose BytesList comes in
    two pieces: read like decode_example reads them."""
    data = _tf_example({"image/id": ("bytes", [b"a", b"b"])}).SerializeToString()
    assert first_texts(data + b"\x10\x05", frozenset({"image/id"})) == {"image/id": b"a"}
    def field(number, payload):
        return bytes([number << 3 | 2, len(payload)]) + payload
    split_list = field(1, field(1, field(1, b"k") + field(2, field(1, field(1, b"x")) + field(1, field(1, b"y")))))
    assert first_texts(split_list, frozenset({"k"})) == {"k": b"x"} and decode_example(split_list)["k"] == [b"x", b"y"]


@pytest.mark.parametrize("data, wanted, message", [
    (lambda: _tf_example(MIXED).SerializeToString(), "image/id", "no bytes value for image/id"),
    (lambda: _tf_example(MIXED).SerializeToString(), "a/int64", "no bytes value for a/int64"),
    (lambda: _tf_example(MIXED).SerializeToString(), "c/empty_bytes", "no bytes value for c/empty_bytes"),
    (lambda: b"\x0a\x05\x0a\x03", "k", "malformed Example"),
])
def test_first_texts_name_what_is_missing(data, wanted, message):
    with pytest.raises(ValueError, match=message):
        first_texts(data(), frozenset({wanted}))


def test_decode_example_accepts_unpacked_repeated_fields():
    def field(number, payload):
        return bytes([number << 3 | 2, len(payload)]) + payload
    ints = field(3, b"\x08\x01" + b"\x08\xac\x02" + b"\x08" + b"\xff" * 9 + b"\x01")
    floats = field(2, b"\x0d" + np.float32(0.5).tobytes() + b"\x0d" + np.float32(-3).tobytes())
    entries = [field(1, field(1, b"i") + field(2, ints)),
               field(1, field(1, b"f") + field(2, floats))]
    decoded = decode_example(field(1, b"".join(entries)))
    assert decoded == {"i": [1, 300, -1], "f": [0.5, -3.0]}


@pytest.mark.parametrize("data", [
    b"\x0a\x05\x0a\x03",      # a field longer than what is left
    b"\x0a",                  # a missing length
    b"\x0b\x00",              # wire type 3 (groups)
    b"\x0a" + b"\xff" * 11,   # an 11-byte varint
])
def test_decode_example_rejects_malformed_bytes(data):
    with pytest.raises(ValueError, match="malformed Example"):
        decode_example(data)


# --- through TensorFlow's reader -------------------------------------------------------


def test_tf_reads_our_shard_records_with_the_declared_spec(tmp_path):
    records = [_record_args(), _record_args(class_label=[], class_text=[], primary=0,
                                            class_multi_hot=[0] * NUM_CLASSES)]
    path = tmp_path / "shard.tfrecord"
    with path.open("wb") as sink:
        writer = RecordWriter(sink)
        for args in records:
            writer.write(F.build_example(NUM_CLASSES, **args))
    spec = F.tf_feature_spec(tf, NUM_CLASSES)
    parsed = [tf.io.parse_single_example(record, spec)
              for record in tf.data.TFRecordDataset(str(path))]
    assert len(parsed) == len(records)
    for args, example in zip(records, parsed):
        expected = {F.FORMAT: "jpeg", F.CHANNELS: 1}  # the contract's fixed values
        expected.update({key: args[F.arg_name(key)] for key in spec if key not in expected})
        for key, value in example.items():
            got = tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value
            assert _python(got.numpy()) == _python(expected[key]), key


def _python(value):
    """Numpy values and str as plain Python values and bytes, for comparison."""
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    if isinstance(value, list):
        return [_python(item) for item in value]
    return value.encode() if isinstance(value, str) else value


def test_tf_reads_every_kind_from_our_files(tmp_path):
    path = tmp_path / "mixed.tfrecord"
    path.write_bytes(frame(_ours(MIXED)))
    dtypes = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
    spec = {key: tf.io.VarLenFeature(dtypes[kind]) for key, (kind, _) in MIXED.items()}
    (record,) = list(tf.data.TFRecordDataset(str(path)))
    parsed = tf.io.parse_single_example(record, spec)
    for key, (kind, items) in MIXED.items():
        expected = _as_float32(items) if kind == "float" else items
        assert parsed[key].values.numpy().tolist() == expected, key


# --- the declared spec -----------------------------------------------------------------


def test_spec_keys_are_the_contract():
    assert [feature.key for feature in F.SPEC] == [
        "image/encoded", "image/format", "image/height", "image/width", "image/channels",
        "image/id", "image/patient_id", "image/split", "image/partition", "image/augmentation",
        "image/class/label", "image/class/text", "image/class/multi_hot", "image/class/uncertain",
        "image/primary", "image/source", "image/view"]


def test_validate_example_accepts_built_records_and_names_problems():
    parsed = decode_example(F.build_example(NUM_CLASSES, **_record_args()))
    assert F.validate_example(parsed, NUM_CLASSES) == []
    assert parsed[F.FORMAT] == [b"jpeg"] and parsed[F.CHANNELS] == [1]

    del parsed[F.VIEW]
    parsed[F.CLASS_MULTI_HOT] = parsed[F.CLASS_MULTI_HOT][:-1]
    parsed[F.HEIGHT] = [b"299"]
    parsed[F.CLASS_TEXT] = [b"Cardiomegaly"]
    problems = F.validate_example(parsed, NUM_CLASSES)
    assert problems == [
        "image/height: expected int64 values, got bytes",
        "image/class/multi_hot: expected 14 value(s), got 13",
        "image/view: missing",
        "image/class/text: expected one name per image/class/label (2), got 1",
    ]


def test_validate_example_on_a_record_with_a_short_multi_hot():
    args = _record_args(class_multi_hot=[1] * (NUM_CLASSES - 1))
    features = {F.FORMAT: "jpeg", F.CHANNELS: 1}
    features.update({key: args[F.arg_name(key)] for key in F.KIND_BY_KEY if key not in features})
    parsed = decode_example(encode_example(features, F.KIND_BY_KEY))
    assert F.validate_example(parsed, NUM_CLASSES) == [
        "image/class/multi_hot: expected 14 value(s), got 13"]


@pytest.mark.parametrize("overrides, message", [
    (dict(class_multi_hot=[0] * 3),
     r"image/class/multi_hot: expected 14 values \(one per class\), got 3"),
    (dict(view=None), r"image/view: missing; pass view="),
    (dict(height=[299]), r"image/height: expected one int64 value, got list"),
    (dict(class_label=2), r"image/class/label: expected a list of int64 values, got int"),
    (dict(height="299"), r"'image/height': expected int64 values, got str"),
    (dict(colour="grey"), r"unknown Example argument\(s\) \['colour'\]"),
])
def test_build_example_names_the_key_expected_and_got(overrides, message):
    args = {key: value for key, value in _record_args(**overrides).items() if value is not None}
    with pytest.raises(ValueError, match=message):
        F.build_example(NUM_CLASSES, **args)


def test_core_modules_do_not_import_tensorflow():
    code = ("import sys, cxrpipe.features, cxrpipe.tfrecord; "
            "sys.exit('tensorflow' in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
