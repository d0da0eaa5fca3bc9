"""Synthetic chest radiograph datasets in the exact layouts of the real ones (``cxrpipe synth``).

``LAYOUTS`` picks the writer by layout name; each is called as ``LAYOUTS[name](n, seed, put,
image_size=...)`` with ``put(relative_path, data)`` storing one file under ``--out``.
``INDEX_PATHS`` gives, per layout, the ``--index`` file and the ``--images`` root relative to
``--out`` that ``cxrpipe preprocess`` then takes (None: the layout has no index file).

The writers draw with OpenCV; they are imported when first called or named, so that the CLI
can offer the layout names in ``--help`` without loading it.
"""

import importlib

# Layout name -> (module, writer function).
_WRITERS = {
    "nih": ("cxrpipe.synth.layouts", "synth_nih"),
    "chexpert": ("cxrpipe.synth.layouts", "synth_chexpert"),
    "mimic": ("cxrpipe.synth.mimic", "synth_mimic"),
    "folders": ("cxrpipe.synth.layouts", "synth_folders"),
}
_LAZY = {name: module for module, name in _WRITERS.values()} | {"render_phantom": "cxrpipe.synth.phantom"}


def _writer(layout: str):
    module, name = _WRITERS[layout]

    def write(n: int, seed: int, put, **kwargs) -> None:
        return getattr(importlib.import_module(module), name)(n, seed, put, **kwargs)

    write.__name__ = write.__qualname__ = name
    return write


LAYOUTS = {layout: _writer(layout) for layout in _WRITERS}

INDEX_PATHS = {
    "nih": ("Data_Entry_2017.csv", "images"),
    "chexpert": ("CheXpert-v1.0-small/train.csv", ""),
    "mimic": ("mimic-cxr-2.0.0-metadata.csv.gz", ""),
    "folders": (None, "chest_xray"),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cxrpipe.synth' has no attribute {name!r}")


__all__ = ["INDEX_PATHS", "LAYOUTS", "render_phantom", "synth_chexpert", "synth_folders",
           "synth_mimic", "synth_nih"]
