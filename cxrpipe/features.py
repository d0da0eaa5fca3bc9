"""The one declared ``tf.train.Example`` feature spec of a cxrpipe shard.

The writer (``build_example``), ``verify`` (``validate_example``) and the trainer
(``tf_feature_spec``) all read ``SPEC``; nothing else spells a feature key. Keys are module
constants because copies of the TF-slim code in the wild misspell ``"image/format "`` with a
trailing space, and a typo in a constant fails loudly where a typo in a string does not.

Each key's keyword argument in ``build_example`` is the key without ``image/`` and with ``/``
replaced by ``_`` (``image/class/multi_hot`` -> ``class_multi_hot``); its constant here is
that name in capitals (``CLASS_MULTI_HOT``).
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

from cxrpipe.tfrecord import encode_example, value_kind

ENCODED = "image/encoded"
FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
CHANNELS = "image/channels"
ID = "image/id"
PATIENT_ID = "image/patient_id"
SPLIT = "image/split"
PARTITION = "image/partition"
AUGMENTATION = "image/augmentation"
CLASS_LABEL = "image/class/label"
CLASS_TEXT = "image/class/text"
CLASS_MULTI_HOT = "image/class/multi_hot"
CLASS_UNCERTAIN = "image/class/uncertain"
PRIMARY = "image/primary"
SOURCE = "image/source"
VIEW = "image/view"


class Feature(NamedTuple):
    """One row of the spec.

    Attributes:
        key: the Example key.
        kind: ``"bytes"``, ``"int64"`` or ``"float"``.
        shape: ``"scalar"`` (one value), ``"per_class"`` (one per class of the dataset, in the
            manifest's class order) or ``"var"`` (any number).
        default: the value ``build_example`` uses when the argument is left out; None: required.
    """

    key: str
    kind: str
    shape: str
    default: Any = None


SPEC: tuple[Feature, ...] = (
    Feature(ENCODED, "bytes", "scalar"),                 # JPEG bytes
    Feature(FORMAT, "bytes", "scalar", "jpeg"),
    Feature(HEIGHT, "int64", "scalar"),
    Feature(WIDTH, "int64", "scalar"),
    Feature(CHANNELS, "int64", "scalar", 1),
    Feature(ID, "bytes", "scalar"),                      # the source's id as its index spells it
    Feature(PATIENT_ID, "bytes", "scalar"),
    Feature(SPLIT, "bytes", "scalar"),
    Feature(PARTITION, "bytes", "scalar"),               # class name of this partition
    Feature(AUGMENTATION, "bytes", "scalar", "none"),    # none, hflip, vflip, hvflip
    Feature(CLASS_LABEL, "int64", "var"),                # indices of the positive classes
    Feature(CLASS_TEXT, "bytes", "var"),                 # their names, in the same order
    Feature(CLASS_MULTI_HOT, "int64", "per_class"),
    Feature(CLASS_UNCERTAIN, "int64", "per_class"),      # 1 where the source said uncertain
    Feature(PRIMARY, "int64", "scalar"),                 # 1 on the one copy the classifier reads
    Feature(SOURCE, "bytes", "scalar"),                  # dataset name
    Feature(VIEW, "bytes", "scalar"),
)

KIND_BY_KEY: dict[str, str] = {feature.key: feature.kind for feature in SPEC}


def arg_name(key: str) -> str:
    """The ``build_example`` keyword for ``key``: ``image/class/label`` -> ``class_label``."""
    return key.removeprefix("image/").replace("/", "_")


_BY_ARG: dict[str, Feature] = {arg_name(feature.key): feature for feature in SPEC}


def build_example(num_classes: int, **values: Any) -> bytes:
    """Build and serialize one shard record, checked against ``SPEC``.

    Args:
        num_classes: length of the per-class features (the dataset's class list).
        **values: one keyword per feature (see ``arg_name``): ``encoded``, ``format``
            (default ``"jpeg"``), ``height``, ``width``, ``channels`` (default 1), ``id``,
            ``patient_id``, ``split``, ``partition``, ``augmentation`` (default ``"none"``),
            ``class_label``, ``class_text``, ``class_multi_hot``, ``class_uncertain``,
            ``primary``, ``source``, ``view``. Text may be ``str`` (UTF-8) or ``bytes``.

    Returns:
        The serialized ``tf.train.Example``.

    Raises:
        ValueError: naming the key, what was expected and what came (missing or unknown
            argument, wrong type, a list where one value belongs, wrong per-class length).
    """
    unknown = sorted(set(values) - set(_BY_ARG))
    if unknown:
        raise ValueError(f"unknown Example argument(s) {unknown}; "
                         f"expected some of {sorted(_BY_ARG)}")
    features = {feature.key: _checked(feature, values.get(arg, feature.default), num_classes)
                for arg, feature in _BY_ARG.items()}
    return encode_example(features, KIND_BY_KEY)


def _checked(feature: Feature, value: Any, num_classes: int) -> Any:
    if value is None:
        raise ValueError(f"{feature.key}: missing; pass {arg_name(feature.key)}=...")
    is_single = isinstance(value, (str, bytes, numbers.Number))
    if feature.shape == "scalar":
        if not is_single:
            raise ValueError(f"{feature.key}: expected one {feature.kind} value, "
                             f"got {type(value).__name__} {value!r:.60}")
        return value
    if is_single:
        raise ValueError(f"{feature.key}: expected a list of {feature.kind} values, "
                         f"got {type(value).__name__} {value!r:.60}")
    values = list(value)
    if feature.shape == "per_class" and len(values) != num_classes:
        raise ValueError(f"{feature.key}: expected {num_classes} values (one per class), "
                         f"got {len(values)}")
    return values


def validate_example(parsed: dict[str, list], num_classes: int) -> list[str]:
    """Check a decoded Example against ``SPEC``; ``verify`` reports what this returns.

    Args:
        parsed: the output of ``cxrpipe.tfrecord.decode_example`` (or any key -> list).
        num_classes: the length the per-class features must have.

    Returns:
        One message per problem (missing key, wrong kind, wrong length); empty when valid.
    """
    problems = []
    for feature in SPEC:
        values = parsed.get(feature.key)
        if values is None:
            problems.append(f"{feature.key}: missing")
            continue
        kind = _kind_of(values)
        if kind is not None and kind != feature.kind:
            problems.append(f"{feature.key}: expected {feature.kind} values, got {kind}")
        expected = {"scalar": 1, "per_class": num_classes}.get(feature.shape)
        if expected is not None and len(values) != expected:
            problems.append(f"{feature.key}: expected {expected} value(s), got {len(values)}")
    labels, texts = parsed.get(CLASS_LABEL), parsed.get(CLASS_TEXT)
    if labels is not None and texts is not None and len(labels) != len(texts):
        problems.append(f"{CLASS_TEXT}: expected one name per {CLASS_LABEL} "
                        f"({len(labels)}), got {len(texts)}")
    return problems


def _kind_of(values: list) -> str | None:
    # Decoded lists carry their kind; for a plain list, the first element tells.
    kind = getattr(values, "kind", None)
    return value_kind(values[0]) if kind is None and values else kind


def tf_feature_spec(tf: Any, num_classes: int) -> dict[str, Any]:
    """The ``tf.io.parse_single_example`` spec for a shard record.

    Args:
        tf: the ``tensorflow`` module (passed in so that this module never imports it).
        num_classes: length of the per-class features.

    Returns:
        key -> ``FixedLenFeature`` (scalars: shape ``[]``; per-class: ``[num_classes]``) or
        ``VarLenFeature`` (var), with dtypes string, int64 or float32.
    """
    dtypes = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
    shapes = {"scalar": [], "per_class": [num_classes]}
    return {feature.key: tf.io.VarLenFeature(dtypes[feature.kind]) if feature.shape == "var"
            else tf.io.FixedLenFeature(shapes[feature.shape], dtypes[feature.kind])
            for feature in SPEC}
