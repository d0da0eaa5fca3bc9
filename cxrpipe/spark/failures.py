"""Spark job failures, told in one line: which task error ended the job."""

from __future__ import annotations

import contextlib
import re

from ..errors import JobFailed
from .session import log_path

# The Python worker's own last line ("OSError: writing s3://... failed ...") inside the JVM's
# exception text; it names the key and the cause without the JVM stack around it.
_PYTHON_ERROR = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Rejected)): .+$", re.MULTILINE)


def task_error(text: str) -> str:
    """The most specific error line in a Spark failure's text (the last Python error raised)."""
    found = [m for m in _PYTHON_ERROR.findall(text) if not m.startswith(("py4j.", "org.apache."))]
    if found:
        return found[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


@contextlib.contextmanager
def job_failures(what: str):
    """Turn a failed Spark job into ``JobFailed`` naming the task's error; no manifest follows."""
    from py4j.protocol import Py4JJavaError

    try:
        yield
    except Py4JJavaError as exc:
        log = log_path()
        raise JobFailed(
            f"{what} failed after Spark's task retries: {task_error(str(exc.java_exception))}. "
            f"No manifest was written; rerun the same command to complete the dataset."
            + (f" Spark's log: {log}" if log else "")
        ) from None
