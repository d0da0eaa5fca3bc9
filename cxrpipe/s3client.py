"""The S3 client of a process: how it is built (region, retries, checksums), how throttling is
waited out, and what its errors mean to a user. Only ``cxrpipe.storage`` and the streamed
uploads use it; boto3 is imported here, lazily.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import TYPE_CHECKING

from .errors import UserError

if TYPE_CHECKING:
    from .storage import StorageConfig

log = logging.getLogger(__name__)

_clients: dict[StorageConfig, object] = {}
_clients_lock = threading.Lock()


def s3_client(config: StorageConfig):
    """The process's boto3 S3 client for this config (clients are thread-safe; sessions are not)."""
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            client = _clients[config] = _new_s3_client(config)
        return client


def _new_s3_client(config: StorageConfig):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    return session.client("s3", endpoint_url=config.endpoint_url, region_name=client_region(config, session),
                          config=Config(**client_options(config)))


def client_options(config: StorageConfig) -> dict:
    """botocore ``Config`` arguments for this storage config."""
    options = dict(
        # adaptive: standard retries plus a client-side rate limiter that backs off when S3
        # throttles, so the executors of a job slow down together while S3 repartitions.
        retries={"mode": "adaptive", "max_attempts": config.max_attempts},
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_pool_connections=32,
    )
    if config.endpoint_url:
        options["s3"] = {"addressing_style": "path"}  # what S3-compatible servers expect
    # AWS gets botocore's defaults: a CRC32 with every upload (over HTTPS, an aws-chunked
    # body with the checksum in a trailer) and validation of the checksums reads return.
    checking = "when_supported" if config.sends_checksums else "when_required"
    options.update(request_checksum_calculation=checking, response_checksum_validation=checking)
    return options


# The algorithm of multipart uploads, named rather than left to botocore's default: S3 then
# keeps a checksum per part, and CompleteMultipartUpload must list each part's.
MULTIPART_CHECKSUM = "CRC32"


def client_region(config: StorageConfig, session) -> str | None:
    """The region a client talks to: ``--s3-region``, else the environment or profile
    (``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``~/.aws/config``), else, against AWS itself, the
    EC2 instance's own region from its metadata service (EMR nodes set none of the others):
    without one, boto3 would use the global endpoint, which a private subnet with only an S3
    gateway endpoint cannot reach."""
    region = config.region or os.environ.get("AWS_REGION") or session.region_name
    if region or config.endpoint_url:
        return region
    from botocore.utils import InstanceMetadataRegionFetcher

    service = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")  # botocore's own override
    try:
        return InstanceMetadataRegionFetcher(timeout=1, num_attempts=1,
                                             **({"base_url": service} if service else {})).retrieve_region()
    except (*aws_errors(), OSError) as exc:  # off EC2 there is no metadata service: boto3's default it is
        log.debug("no region from the instance metadata service: %s", exc)
        return None


def aws_errors() -> tuple[type, ...]:
    """What a boto3 call raises when the store (not cxrpipe) fails: botocore's client and
    transport errors, imported on first use. For ``except aws_errors() as exc:``."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _setup_errors() -> tuple[type, ...]:
    from botocore import exceptions as e

    return (e.NoCredentialsError, e.PartialCredentialsError, e.EndpointConnectionError, e.ConnectTimeoutError)


def _credential_errors() -> tuple[type, ...]:
    from botocore import exceptions as e

    return (e.NoCredentialsError, e.PartialCredentialsError)


# S3 and S3-compatible servers say "slow down" with these codes.
_THROTTLING = frozenset({"SlowDown", "503", "ServiceUnavailable", "Throttling", "ThrottlingException",
                         "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled"})
_MAX_BACKOFF_SECONDS = 30.0


def patiently(call, config: StorageConfig):
    """``call()``, waiting out throttling that outlasts botocore's own retries.

    botocore's retry quota (500 tokens per client, 5 per throttled retry, 1 back per success)
    empties within seconds of sustained 503 SlowDown, after which it stops retrying at once.
    S3 answers SlowDown while it repartitions a busy prefix (minutes), so throttling is waited
    out here with full-jitter exponential backoff, up to ``config.throttle_seconds`` per call.
    Other errors are raised at once.
    """
    deadline = time.monotonic() + config.throttle_seconds
    delay = 1.0
    while True:
        try:
            return call()
        except aws_errors() as exc:  # only throttling is waited out
            if error_code(exc) not in _THROTTLING or time.monotonic() + delay > deadline:
                raise
        time.sleep(random.uniform(0.0, delay))
        delay = min(2 * delay, _MAX_BACKOFF_SECONDS)


# Errors about one object, not the store: a rerun cannot fix them, so they are rejects.
UNREADABLE_OBJECT = {
    "InvalidObjectState": "the object is in an archive storage class (GLACIER, DEEP_ARCHIVE): "
                          "restore it before reading",
    "AccessDenied": "reading this object is denied (object ACL, bucket policy or KMS key)",
    "403": "reading this object is denied (object ACL, bucket policy or KMS key)",
}


def store_wide(exc: Exception) -> bool:
    """Failures no object-level retry or reject can help: the user's set-up is wrong."""
    return isinstance(exc, _setup_errors()) or error_code(exc) in {"NoSuchBucket", "InvalidAccessKeyId",
                                                                   "SignatureDoesNotMatch"}


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def storage_error(action: str, uri: str, exc: Exception) -> OSError:
    # Messages name the key and the cause, never the request's signed headers or credentials.
    return OSError(f"{action} {uri} failed after retries: {type(exc).__name__}: {error_code(exc) or exc}")


def user_facing_error(bucket: str, exc: Exception) -> UserError:
    name = type(exc).__name__
    if isinstance(exc, _credential_errors()):
        return UserError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
            "or run on an instance with a role"
        )
    if isinstance(exc, _setup_errors()):
        return UserError(f"cannot reach the S3 endpoint for bucket {bucket!r}: {exc}; check --s3-endpoint")
    if error_code(exc) == "NoSuchBucket":
        return UserError(f"bucket {bucket!r} does not exist (cxrpipe never creates buckets): "
                         f"create it first, e.g. `aws s3 mb s3://{bucket}`")
    code = error_code(exc)
    if code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        return UserError(f"access to bucket {bucket!r} denied ({code}): check the credentials and the bucket policy")
    return UserError(f"cannot use bucket {bucket!r}: {name} {code}".strip())
