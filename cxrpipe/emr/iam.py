"""Every IAM document a first run on EMR needs, beyond the job's own S3 permissions (``policy``).

Roles need a trust policy saying which service may assume them, and an EMR Serverless custom
image needs a repository policy letting the service pull it; without them the first cluster or
application fails with an access error that does not say which document is missing. The texts
follow AWS's documentation (cited in docs/emr.md): the EMR on EC2 instance profile role trusts
``ec2.amazonaws.com``; the EMR service role trusts ``elasticmapreduce.amazonaws.com`` only for this
account's clusters (``aws:SourceAccount``/``aws:SourceArn``, against the confused deputy); the EMR
Serverless execution role trusts ``emr-serverless.amazonaws.com``; the custom image's ECR
repository lets ``emr-serverless.amazonaws.com`` read it for one application's ARN only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

VERSION = "2012-10-17"
ECR_PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]
KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]  # SSE-KMS reads decrypt; writes (and multipart) generate
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_APPLICATION = re.compile(r"[0-9a-z]+")  # EMR Serverless's applicationId pattern
# A key ARN, not an alias: IAM matches kms:Decrypt and kms:GenerateDataKey against the key's own ARN.
_KMS_KEY = re.compile(r"arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/[\w-]+")


@dataclass(frozen=True)
class Inputs:
    """What the documents are for; None where the user gave nothing.

    Attributes:
        job_policy: the job role's permissions (``policy.job_policy``), or None without a job.
        account: the 12-digit AWS account id.
        region: the region of the cluster or application.
        application: the EMR Serverless application id (known after ``create-application``).
    """

    job_policy: dict | None = None
    account: str | None = None
    region: str | None = None
    application: str | None = None


@dataclass(frozen=True)
class Document:
    """One policy document, what it needs and where it goes.

    Attributes:
        attach: one line saying where the document attaches (for the user, not for AWS).
        needs: the ``Inputs`` fields it cannot be written without, as the flags that give them.
        build: ``Inputs -> policy document``.
    """

    attach: str
    needs: tuple[str, ...]
    build: Callable[[Inputs], dict]


def _trust(service: str, condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return {"Version": VERSION, "Statement": [statement | ({"Condition": condition} if condition else {})]}


def emr_service_trust(account: str, region: str) -> dict:
    """The EMR service role's trust: EMR may assume it for this account's clusters in ``region``."""
    return _trust("elasticmapreduce.amazonaws.com", {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:aws:elasticmapreduce:{region}:{account}:*"}})


def application_arn(account: str, region: str, application: str) -> str:
    """An EMR Serverless application's ARN (the API reference's pattern: ``.../applications/ID``)."""
    return f"arn:aws:emr-serverless:{region}:{account}:/applications/{application}"


def ecr_repository_policy(account: str, region: str, application: str) -> dict:
    """The custom image repository's policy: EMR Serverless may pull it for this one application."""
    return {"Version": VERSION, "Statement": [{
        "Sid": "EmrServerlessCustomImageSupport", "Effect": "Allow",
        "Principal": {"Service": "emr-serverless.amazonaws.com"}, "Action": ECR_PULL_ACTIONS,
        "Condition": {"StringEquals": {"aws:SourceArn": application_arn(account, region, application)}}}]}


def kms_statement(keys: list[str]) -> dict:
    """Use of the buckets' SSE-KMS keys, through S3 only (``kms:ViaService`` in each key's region).

    Raises:
        ValueError: a key that is not a KMS key or alias ARN.
    """
    regions = sorted({kms_key_region(key) for key in keys})
    return {"Sid": "UseBucketKeys", "Effect": "Allow", "Action": KMS_ACTIONS, "Resource": list(keys),
            "Condition": {"StringEquals": {"kms:ViaService": [f"s3.{r}.amazonaws.com" for r in regions]}}}


def kms_key_region(key: str) -> str:
    """The region in a KMS key ARN (S3 uses a key only in its own region).

    Raises:
        ValueError: not ``arn:aws:kms:REGION:ACCOUNT:key/ID``.
    """
    match = _KMS_KEY.fullmatch(key)
    if not match:
        raise ValueError(f"expected a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/ID "
                         f"(not an alias: IAM authorizes the key's own ARN), got {key!r}")
    return match.group("region")


def _matching(pattern: re.Pattern, example: str):
    def check(text: str) -> str:
        if not pattern.fullmatch(text):
            raise ValueError(f"expected something like {example}, got {text!r}")
        return text
    return check


# Flag values AWS would refuse, caught when the command line is parsed (each raises ValueError).
account_id = _matching(_ACCOUNT, "123456789012")
region_name = _matching(_REGION, "us-east-1")
application_id = _matching(_APPLICATION, "00fxxxxxxxxxxxxx")


def kms_key_arn(text: str) -> str:
    kms_key_region(text)
    return text


# Name -> document. `cxrpipe emr policy --document NAME` prints one; `all`, every one it can write.
DOCUMENTS: dict[str, Document] = {
    "job-role": Document(
        "permissions of the role the job runs as: the EC2 instance profile's role (EMR on EC2) or the "
        "execution role (EMR Serverless)", ("job",), lambda i: i.job_policy),
    "ec2-instance-role-trust": Document(
        "trust policy of the EMR on EC2 instance profile role (create-role, then an instance profile holding it: "
        "--instance-profile)", (), lambda i: _trust("ec2.amazonaws.com")),
    "emr-service-role-trust": Document(
        "trust policy of the EMR service role (--service-role); `aws emr create-default-roles` makes one with "
        "EMR's permissions",
        ("account", "region"), lambda i: emr_service_trust(i.account, i.region)),
    "serverless-execution-role-trust": Document(
        "trust policy of the EMR Serverless execution role (--execution-role)", (),
        lambda i: _trust("emr-serverless.amazonaws.com")),
    "ecr-repository": Document(
        "repository policy of the custom image's ECR repository (aws ecr set-repository-policy)",
        ("account", "region", "application"), lambda i: ecr_repository_policy(i.account, i.region, i.application)),
}
FLAGS = {"job": "-- COMMAND ARGS", "account": "--account", "region": "--region", "application": "--serverless-app"}


def missing(name: str, inputs: Inputs) -> list[str]:
    """The flags document ``name`` still needs (empty: it can be written)."""
    values = {"job": inputs.job_policy, "account": inputs.account, "region": inputs.region,
              "application": inputs.application}
    return [FLAGS[need] for need in DOCUMENTS[name].needs if values[need] is None]


def every_document(inputs: Inputs) -> tuple[dict, dict[str, list[str]]]:
    """``({name: {"attach": ..., "policy": ...}}, {name left out: the flags it needs})``."""
    written, left_out = {}, {}
    for name, document in DOCUMENTS.items():
        needs = missing(name, inputs)
        if needs:
            left_out[name] = needs
        else:
            written[name] = {"attach": document.attach, "policy": document.build(inputs)}
    return written, left_out
