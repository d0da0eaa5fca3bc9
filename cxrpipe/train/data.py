"""tf.data pipelines over a shard dataset, built from its manifest (never from a listing).

Shards are read interleaved (local files with ``TFRecordDataset``; ``s3://`` through
cxrpipe's storage layer, because TensorFlow 2.16+ has no S3 file system of its own and the
storage layer honours ``--s3-endpoint``, the AWS credential chain and the retries), parsed
with the one declared feature spec, JPEG-decoded, resized, cropped (random in training,
centered otherwise, when ``Stream.crop_fraction`` < 1), made 3-channel and scaled to [-1, 1]
(each backbone rescales that inside the model), shuffled, batched and prefetched.

Two streams: the classifier's takes the primary copy of each version once per epoch
(``image/primary``) with its labels; an autoencoder's takes every record of one class
partition and yields the gray view the autoencoder reconstructs.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf
from keras.applications import inception_resnet_v2

from cxrpipe import features, storage
from cxrpipe.errors import UserError
from cxrpipe.tfrecord import iter_records
from cxrpipe.train import sources
from cxrpipe.dataset import Dataset

AUTOTUNE = tf.data.AUTOTUNE
UNKNOWN = -1.0  # label of an uncertain entry under the "ignore" policy: left out of the loss
_KEYS = (features.ENCODED, features.CLASS_MULTI_HOT, features.CLASS_UNCERTAIN, features.PRIMARY)


@dataclass(frozen=True)
class Stream:
    """How records become batches.

    Attributes:
        image_size: side of the images fed to the backbone.
        batch_size: global batch size (split over the replicas of a distribution strategy).
        class_index: positions of the trained classes in the manifest's class list.
        mask_uncertain: label uncertain entries ``UNKNOWN`` (the ``ignore`` policy).
        seed: seed of the file order and of the shuffle.
        shuffle_buffer: records held by the shuffle.
        cycle_length: shards read at once.
        crop_fraction: ``image_size`` over the side the stored image is resized to first
            (``resize_side``); below 1, training takes seeded random crops of ``image_size``
            and every other use the center crop (1: the whole image, resized).
    """

    image_size: int
    batch_size: int
    class_index: tuple[int, ...] = ()
    mask_uncertain: bool = False
    seed: int = 0
    shuffle_buffer: int = 1024
    cycle_length: int = 4
    crop_fraction: float = 1.0


def classifier_dataset(source: Dataset, split: str, stream: Stream, training: bool) -> tf.data.Dataset:
    """Batches of (images, labels) of ``split``, each version of each image once per pass.

    Images are float32 (batch, size, size, 3) in [-1, 1]; labels float32 (batch, classes):
    1, 0, or ``UNKNOWN``. ``training``: shuffled and repeated without end (pass
    ``steps_per_epoch``); otherwise one pass in a fixed order.

    Raises:
        UserError: the split has no shards.
    """
    records = _records(source, _paths(source, split, None), stream, training)
    parse = _parser(len(source.manifest.classes))
    examples = records.map(parse, num_parallel_calls=AUTOTUNE)
    examples = examples.filter(lambda ex: ex[features.PRIMARY] == 1)
    examples = _epochs(examples, stream, training, sources.primary_count(source.manifest, split))
    if training and stream.crop_fraction < 1.0:
        # Crops seeded by (seed, position in the stream): the same for a given --seed whatever
        # the parallelism, and new each epoch (the position keeps counting through repeats).
        pairs = examples.enumerate().map(
            lambda i, ex: (random_crop_input(decode_gray(ex[features.ENCODED]), stream, i),
                           _labels(ex, stream)), num_parallel_calls=AUTOTUNE)
    else:
        pairs = examples.map(lambda ex: (decode_image(ex[features.ENCODED], stream.image_size,
                                                      stream.crop_fraction),
                                         _labels(ex, stream)), num_parallel_calls=AUTOTUNE)
    return pairs.batch(stream.batch_size).prefetch(AUTOTUNE)


def identified_images(source: Dataset, split: str) -> tf.data.Dataset:
    """(image id, JPEG bytes) of every primary record of ``split``, one pass in a fixed order.

    Raises:
        UserError: the split has no shards.
    """
    stream = Stream(image_size=1, batch_size=1)
    records = _records(source, _paths(source, split, None), stream, shuffle=False)
    spec = features.tf_feature_spec(tf, len(source.manifest.classes))
    keys = {key: spec[key] for key in (features.ID, features.ENCODED, features.PRIMARY)}
    examples = records.map(lambda r: tf.io.parse_single_example(r, keys), num_parallel_calls=AUTOTUNE)
    examples = examples.filter(lambda ex: ex[features.PRIMARY] == 1)
    return examples.map(lambda ex: (ex[features.ID], ex[features.ENCODED]))


def autoencoder_dataset(source: Dataset, split: str, partition: str, stream: Stream,
                        ae_size: int, training: bool) -> tf.data.Dataset:
    """Batches of (view, view) of every record of one class partition, for its autoencoder.

    The view is ``gray_view`` of the classifier's input, so an autoencoder sees exactly what
    it will see inside the classifier.

    Raises:
        UserError: the partition has no shards in ``split``.
    """
    records = _records(source, _paths(source, split, partition), stream, training)
    parse = _parser(len(source.manifest.classes))
    examples = records.map(parse, num_parallel_calls=AUTOTUNE)
    count = sources.record_count(source.manifest, split, partition)
    examples = _epochs(examples, stream, training, count)

    def view(ex):
        pixels = decode_image(ex[features.ENCODED], stream.image_size, stream.crop_fraction)
        image = gray_view(pixels[None], ae_size)[0]
        return image, image

    return examples.map(view, num_parallel_calls=AUTOTUNE).batch(stream.batch_size).prefetch(AUTOTUNE)


def decode_image(encoded: tf.Tensor, size: int, crop_fraction: float = 1.0) -> tf.Tensor:
    """JPEG bytes -> float32 (size, size, 3) in [-1, 1]: ``model_input`` of the decoded gray."""
    return model_input(decode_gray(encoded), size, crop_fraction)


def decode_gray(encoded: tf.Tensor) -> tf.Tensor:
    """JPEG bytes -> uint8 (H, W, 1): the stored image as the model's input starts from it."""
    return tf.io.decode_jpeg(encoded, channels=1)


def resize_side(size: int, crop_fraction: float) -> int:
    """The side the image is resized to before a crop of ``size``: the recipes' 256 for 224
    (fraction 0.875), 1024 for 896."""
    return max(size, round(size / crop_fraction))


def model_input(gray: tf.Tensor, size: int, crop_fraction: float = 1.0) -> tf.Tensor:
    """uint8 gray (..., H, W, 1) -> float32 (..., size, size, 3) in [-1, 1]: resized to
    ``resize_side``, center-cropped to ``size``, gray copied to 3 channels, scaled as
    Inception-ResNet-v2's ``preprocess_input`` does (each backbone rescales inside the model).

    The transform ``modeldir.INPUT_TRANSFORM`` names, with the card's ``crop_fraction``:
    evaluation, `predict` and the exported models' serving signature all apply it.
    """
    side = resize_side(size, crop_fraction)
    gray = tf.image.resize(gray, (side, side), method="bilinear", antialias=True)
    start = (side - size) // 2
    return _scaled(gray[..., start:start + size, start:start + size, :])


def random_crop_input(gray: tf.Tensor, stream: Stream, index: tf.Tensor) -> tf.Tensor:
    """``model_input``'s training twin for one uint8 (H, W, 1) image: a random crop of
    ``stream.image_size`` where the center crop would be, drawn from (``stream.seed``, index)."""
    side = resize_side(stream.image_size, stream.crop_fraction)
    gray = tf.image.resize(gray, (side, side), method="bilinear", antialias=True)
    seed = tf.stack([tf.constant(stream.seed, tf.int64), tf.cast(index, tf.int64)])
    crop = tf.image.stateless_random_crop(gray, (stream.image_size, stream.image_size, 1), seed=seed)
    return _scaled(crop)


def _scaled(gray: tf.Tensor) -> tf.Tensor:
    return inception_resnet_v2.preprocess_input(tf.image.grayscale_to_rgb(gray))


def gray_view(images: tf.Tensor, size: int) -> tf.Tensor:
    """(batch, H, W, 3) backbone input -> (batch, size, size, 1): one channel, resized.

    The autoencoders' input, in the data pipeline and inside the classifier alike.
    """
    first = tf.cast(images[..., :1], tf.float32)
    return tf.image.resize(first, (size, size), method="bilinear", antialias=True)


def _epochs(examples: tf.data.Dataset, stream: Stream, training: bool, count: int) -> tf.data.Dataset:
    """Training: shuffled and repeated without end. Otherwise one pass whose length, known
    from the manifest, is declared (and checked) so that progress bars and Keras know it."""
    if training:
        return examples.shuffle(stream.shuffle_buffer, seed=stream.seed).repeat()
    return examples.apply(tf.data.experimental.assert_cardinality(count))


def _paths(source: Dataset, split: str, partition: str | None) -> list[str]:
    paths = sources.shard_paths(source.manifest, split, partition)
    if not paths:
        what = f"class {partition!r} in " if partition else ""
        raise UserError(f"{source.root}: no records of {what}the {split!r} split in the manifest")
    return paths


def _parser(num_classes: int):
    spec = features.tf_feature_spec(tf, num_classes)
    wanted = {key: spec[key] for key in _KEYS}
    return lambda record: tf.io.parse_single_example(record, wanted)


def _labels(example: dict, stream: Stream) -> tf.Tensor:
    index = list(stream.class_index)
    labels = tf.cast(tf.gather(example[features.CLASS_MULTI_HOT], index), tf.float32)
    if stream.mask_uncertain:
        uncertain = tf.gather(example[features.CLASS_UNCERTAIN], index) > 0
        labels = tf.where(uncertain, tf.constant(UNKNOWN), labels)
    return labels


def _records(source: Dataset, paths: list[str], stream: Stream, shuffle: bool) -> tf.data.Dataset:
    """Serialized records of ``paths``, ``cycle_length`` shards interleaved."""
    uris = [storage.join(source.root, p) for p in paths]
    files = tf.data.Dataset.from_tensor_slices(uris)
    if shuffle:
        files = files.shuffle(len(uris), seed=stream.seed, reshuffle_each_iteration=True)
    read = READERS["s3" if storage.is_s3(source.root) else "local"](source.storage)
    return files.interleave(read, cycle_length=min(stream.cycle_length, len(uris)),
                            num_parallel_calls=AUTOTUNE, deterministic=True)


def _local_reader(config: storage.StorageConfig):
    return lambda uri: tf.data.TFRecordDataset(uri)


def _storage_reader(config: storage.StorageConfig):
    """Whole shards fetched by the storage layer; their records checked (CRCs) and yielded."""
    def records(uri: bytes):
        yield from iter_records(storage.read_bytes(uri.decode(), config))

    signature = tf.TensorSpec((), tf.string)
    return lambda uri: tf.data.Dataset.from_generator(records, args=(uri,), output_signature=signature)


READERS = {"local": _local_reader, "s3": _storage_reader}
