"""Secrets never leave the process: redaction of what cxrpipe prints and logs. Pure.

Covered: ``user:pass@`` in any URL (an ``--s3-endpoint`` or ``AWS_ENDPOINT_URL`` with
credentials shows up in botocore's error texts), AWS access key ids, and the values of signing
headers and session tokens that botocore logs at DEBUG.
"""

from __future__ import annotations

import logging
import os
import re

MASK = "***"
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b")
_SIGNING = re.compile(r"(?i)((?:x-amz-security-token|authorization|x-amz-credential|x-amz-signature|"
                      r"aws_secret_access_key|aws_session_token)['\"]?\s*[:=]\s*b?['\"]?)[^\s'\",}]+")
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def redact(text: str, secrets=None) -> str:
    """``text`` with credentials masked.

    Args:
        text: any message.
        secrets: exact values to mask as well; by default the secret AWS variables of this
            process's environment.
    """
    secrets = [s for s in (secrets if secrets is not None else _environment_secrets()) if len(s) >= 8]
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _KEY_ID.sub(MASK, text)
    return _SIGNING.sub(lambda m: f"{m.group(1)}{MASK}", text)


def _environment_secrets() -> list[str]:
    return [os.environ[name] for name in _SECRET_VARIABLES if os.environ.get(name)]


class RedactingFilter(logging.Filter):
    """A handler filter: every record is formatted, redacted, and passed on as plain text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
