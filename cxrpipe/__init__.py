"""cxrpipe: raw chest radiographs in an object store to training-ready data.

For notebooks, a small API (imported on first use, so ``import cxrpipe`` stays light)::

    import cxrpipe
    ds = cxrpipe.open_dataset("s3://bucket/nih-run")       # a committed dataset and its manifest
    ds.manifest.classes, ds.manifest.counts, ds.manifest.files_under("tfrecords")
    spec = cxrpipe.feature_spec(tf, len(ds.manifest.classes))   # for tf.io.parse_single_example
    index = cxrpipe.read_index("nih", open("Data_Entry_2017_v2020.csv").read())

The command line (``cxrpipe --help``) is the rest of the tool.
"""

__version__ = "0.1.0"

__all__ = ["open_dataset", "feature_spec", "read_index", "READERS", "Dataset", "Manifest", "StorageConfig"]


def open_dataset(root: str, storage=None):
    """The committed dataset at ``root`` (``s3://`` or a folder): its manifest and files.

    Args:
        storage: a ``StorageConfig`` (endpoint, region); the default reaches AWS or the disk.

    Raises:
        cxrpipe.dataset.NoDataset: no manifest there; UserError: an unreadable one.
    """
    from .dataset import open_dataset as _open
    from .storage import StorageConfig

    return _open(root, storage or StorageConfig.from_env())


def feature_spec(tf, num_classes: int) -> dict:
    """The ``tf.io.parse_single_example`` spec of cxrpipe's TFRecords (every key, see DESIGN.md)."""
    from .features import tf_feature_spec

    return tf_feature_spec(tf, num_classes)


def read_index(dataset: str, source, **companions):
    """A dataset's index read as cxrpipe reads it (``READERS``): ``source`` is the index file's
    text (nih, chexpert, mimic, table) or the list of image keys (folders); ``companions`` are
    the reader's other inputs (MIMIC's ``labels`` and ``split`` texts, NIH's ``test_list``).

    Returns:
        A ``DatasetIndex``: its classes, one record per usable row, and the rows refused with
        their reasons.
    """
    from .index import READERS as _readers

    return _readers[dataset].read(source, **companions)


def __getattr__(name: str):
    if name == "READERS":
        from .index import READERS
        return READERS
    if name == "Dataset":
        from .dataset import Dataset
        return Dataset
    if name == "Manifest":
        from .manifest import Manifest
        return Manifest
    if name == "StorageConfig":
        from .storage import StorageConfig
        return StorageConfig
    raise AttributeError(f"module 'cxrpipe' has no attribute {name!r}")
