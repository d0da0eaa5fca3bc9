"""The kinds of failure cxrpipe distinguishes.

A ``UserError`` is a mistake the user can fix (a bad flag, a missing bucket); the CLI prints
its message on one line and exits 2. A ``JobFailed`` is a job whose result must not be
committed (too many rejects); exit 1. An ``ImageRejected`` is one input that cannot be used; it
becomes a row in ``rejects`` and never stops the job.
"""


class UserError(Exception):
    """A mistake in the user's input or set-up, with a message saying how to fix it."""


class JobFailed(Exception):
    """A job ran but its result must not be committed: no manifest is written."""


class UnreadableObject(OSError):
    """One object that exists but cannot be read (a directory, no permission, an archived S3
    object): a ``read_error`` reject, never a failed job, since a rerun cannot fix it."""


class ImageRejected(Exception):
    """One input image that cannot be used.

    Attributes:
        reason: a short stable code (one of ``REASONS``), used for counting.
        detail: a human-readable explanation of this particular case.
    """

    def __init__(self, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise ValueError(f"unknown reject reason {reason!r}; expected one of {sorted(REASONS)}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# Stable reject codes: they are counted in the manifest and documented for users.
REASONS = frozenset({
    "missing",            # the index names an object that does not exist
    "empty",              # zero-byte object
    "not_an_image",       # not PNG, JPEG or DICOM by its magic bytes
    "truncated",          # the file ends before its end marker
    "undecodable",        # the decoder refused it
    "too_many_pixels",    # header declares more than --max-pixels (decompression bomb)
    "unsupported_mode",   # a pixel layout we cannot convert to 8-bit gray
    "extreme_aspect",     # sides more than 5:1 apart: the square output would be a smear
    "dicom_no_pixels",    # DICOM without pixel data
    "duplicate_id",       # the index names the same image id twice
    "path_escape",        # the index path leaves the images root (../, absolute)
    "read_error",         # it exists but cannot be read: a directory, no permission, archived in S3
})
