"""Inputs of `cxrpipe predict`: files, folders and ``s3://`` prefixes to a sorted list of
URIs, and each URI to the JPEG `cxrpipe run` would have stored for it (or its reject).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cxrpipe import storage
from cxrpipe.errors import ImageRejected, UnreadableObject
from cxrpipe.imageops import render
from cxrpipe.params import RenderParams
from cxrpipe.preprocessing.task import BAD_IMAGE_ERRORS


def expand(inputs: list[str], config: storage.StorageConfig) -> list[str]:
    """Every image URI the arguments name, in argument order, each folder's files sorted.

    A local folder or an ``s3://`` prefix stands for every object under it; anything else
    for itself (a missing one becomes a ``missing`` row, as in preprocessing).
    """
    found = []
    for given in inputs:
        under = _listing(given, config)
        found.extend(under if under else [given])
    return found


def _listing(given: str, config: storage.StorageConfig) -> list[str]:
    """The sorted URIs under a folder or prefix; none when ``given`` is not one."""
    if storage.is_s3(given):
        prefix = given.rstrip("/") + "/"
        return [storage.join(prefix, key) for key in storage.list_keys(prefix, config)]
    if Path(given).is_dir():
        return [str(p) for p in sorted(Path(given).rglob("*")) if p.is_file()]
    return []


def primary_params(params: RenderParams) -> RenderParams:
    """The training dataset's parameters without flips: a prediction is made on the primary
    version, the original orientation."""
    return dataclasses.replace(params, flips=())


def prepare(uri: str, params: RenderParams, config: storage.StorageConfig) -> bytes | ImageRejected:
    """The JPEG `cxrpipe run` would store for the image at ``uri`` (its primary version), or
    the reject preprocessing would record for it, with the same reasons.

    ``params`` must hold no flips (``primary_params``).
    """
    try:
        data = storage.read_bytes(uri, config)
    except FileNotFoundError:
        return ImageRejected("missing", f"no object at {uri}")
    except UnreadableObject as exc:
        return ImageRejected("read_error", str(exc))
    try:
        (_, jpeg), = render(data, params).versions
    except ImageRejected as rejected:
        return rejected
    except BAD_IMAGE_ERRORS as exc:  # as preprocessing does: a decoder's surprise is a reject
        return ImageRejected("undecodable", f"{type(exc).__name__}: {exc}")
    return jpeg
