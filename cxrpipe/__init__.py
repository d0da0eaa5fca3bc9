"""cxrpipe: raw chest radiographs in an object store to training-ready data."""

__version__ = "0.1.0"
