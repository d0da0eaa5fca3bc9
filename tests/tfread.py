"""Shard records read back by TensorFlow's own reader, parsed with the declared spec."""

from __future__ import annotations


def tf_records(tmp_path, files: dict[str, bytes], num_classes: int) -> list[dict]:
    """Every record of the shards, parsed by TensorFlow's own reader and the declared spec."""
    import tensorflow as tf

    from cxrpipe.features import tf_feature_spec

    paths = []
    for name, data in files.items():
        path = tmp_path / name.replace("/", "__")
        path.write_bytes(data)
        paths.append(str(path))
    spec = tf_feature_spec(tf, num_classes)
    parsed = []
    for raw in tf.data.TFRecordDataset(paths):
        ex = tf.io.parse_single_example(raw, spec)
        parsed.append({
            "id": ex["image/id"].numpy().decode(),
            "partition": ex["image/partition"].numpy().decode(),
            "split": ex["image/split"].numpy().decode(),
            "aug": ex["image/augmentation"].numpy().decode(),
            "primary": int(ex["image/primary"].numpy()),
            "multi_hot": ex["image/class/multi_hot"].numpy().tolist(),
            "uncertain": ex["image/class/uncertain"].numpy().tolist(),
            "labels": tf.sparse.to_dense(ex["image/class/label"]).numpy().tolist(),
            "shape": tuple(tf.io.decode_jpeg(ex["image/encoded"]).shape),
        })
    return parsed
