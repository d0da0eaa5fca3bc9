"""`cxrpipe report`: one self-contained HTML page to look at a preprocessed dataset.

A pure core (``sampling``, ``pixels``, ``svg``, ``sections``, ``page``) and a thin shell
(``build``) that reads only what the page shows through ``cxrpipe.storage``.
"""

from .build import gather, write_report

__all__ = ["gather", "write_report"]
