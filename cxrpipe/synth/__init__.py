"""Synthetic chest radiograph datasets in the exact layouts of the real ones (``cxrpipe synth``).

``LAYOUTS`` picks the writer by layout name; each is called as ``LAYOUTS[name](n, seed, put,
image_size=...)`` with ``put(relative_path, data)`` storing one file under ``--out``.
``INDEX_PATHS`` gives, per layout, the ``--index`` file and the ``--images`` root relative to
``--out`` that ``cxrpipe preprocess`` then takes (None: the layout has no index file).
"""

from cxrpipe.synth.layouts import synth_chexpert, synth_folders, synth_nih
from cxrpipe.synth.mimic import synth_mimic
from cxrpipe.synth.phantom import render_phantom

LAYOUTS = {
    "nih": synth_nih,
    "chexpert": synth_chexpert,
    "mimic": synth_mimic,
    "folders": synth_folders,
}

INDEX_PATHS = {
    "nih": ("Data_Entry_2017.csv", "images"),
    "chexpert": ("CheXpert-v1.0-small/train.csv", ""),
    "mimic": ("mimic-cxr-2.0.0-metadata.csv.gz", ""),
    "folders": (None, "chest_xray"),
}

__all__ = ["INDEX_PATHS", "LAYOUTS", "render_phantom", "synth_chexpert", "synth_folders",
           "synth_mimic", "synth_nih"]
