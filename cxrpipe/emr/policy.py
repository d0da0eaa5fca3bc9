"""The least-privilege IAM policy a cxrpipe job needs: read its inputs, write its output.

Attach it to the role the job runs as: the cluster's EC2 instance profile role (EMR on EC2) or
the job's execution role (EMR Serverless).
"""

from __future__ import annotations

from ..index import READERS, companion_uris
from ..storage import split_s3
from .iam import kms_statement

# Parsed options whose value the job reads, and the one it writes (``cxrpipe preprocess|shards|run``).
READ_OPTIONS = ("images", "index", "input")
WRITE_OPTIONS = ("output",)
# Writing a dataset: objects, multipart parts (shards), and deleting a stale manifest first.
WRITE_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"]


def job_locations(options: dict) -> tuple[list[str], list[str]]:
    """The S3 URIs a job reads from and writes to, from its parsed options (``vars(namespace)``).

    Local paths are left out: they are on the cluster's disks, not in S3.
    """
    def s3(uris):
        return [uri for uri in uris if str(uri or "").startswith("s3://")]

    reads = [options.get(n) for n in READ_OPTIONS]
    if options.get("dataset") in READERS:
        # Label and split files, named or found beside the index (MIMIC's).
        reads += [uri for uri in companion_uris(options).values() if uri not in reads]
    return s3(reads), s3(options.get(n) for n in WRITE_OPTIONS)


def _objects(uri: str) -> list[str]:
    """ARNs of the object ``uri`` names and of everything under it as a prefix."""
    bucket, key = split_s3(uri)
    key = key.strip("/")
    if not key:
        return [f"arn:aws:s3:::{bucket}/*"]
    return [f"arn:aws:s3:::{bucket}/{key}", f"arn:aws:s3:::{bucket}/{key}/*"]


def job_policy(reads: list[str], writes: list[str], artifacts: str | None = None,
               logs: str | None = None, kms_keys: tuple[str, ...] = ()) -> dict:
    """An IAM policy document allowing exactly what the job does in S3.

    Args:
        reads: URIs the job reads (index files or prefixes).
        writes: dataset roots the job writes.
        artifacts: the staged prefix EMR reads the job scripts and environment from.
        logs: the log prefix EMR (on EC2, as the instance role) writes to.
        kms_keys: ARNs of the KMS keys the buckets encrypt with (SSE-KMS): S3 uses them on the
            job's behalf, with the job's permissions.

    Returns:
        A policy document (``Version`` and ``Statement``), ready for ``json.dumps``.
    """
    reads = reads + ([artifacts] if artifacts else [])
    writes_all = writes + ([logs] if logs else [])
    buckets = sorted({split_s3(uri)[0] for uri in reads + writes_all})
    statements = [
        # HeadBucket, which cxrpipe uses to check a bucket before a job, is authorized by
        # s3:ListBucket and carries no prefix, so this one cannot be narrowed by s3:prefix.
        {"Sid": "FindBuckets", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{b}" for b in buckets]},
    ]
    if reads:
        statements.append({"Sid": "ReadInputs", "Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": [arn for uri in reads for arn in _objects(uri)]})
    if writes_all:
        statements.append({"Sid": "WriteOutputs", "Effect": "Allow", "Action": WRITE_ACTIONS,
                           "Resource": [arn for uri in writes_all for arn in _objects(uri)]})
    if writes:
        # Shard writing first aborts the uploads a killed earlier attempt left under tfrecords/.
        statements.append({"Sid": "FindStaleUploads", "Effect": "Allow", "Action": ["s3:ListBucketMultipartUploads"],
                           "Resource": [f"arn:aws:s3:::{b}" for b in sorted({split_s3(u)[0] for u in writes})]})
    if kms_keys:
        statements.append(kms_statement(list(kms_keys)))
    return {"Version": "2012-10-17", "Statement": statements}
