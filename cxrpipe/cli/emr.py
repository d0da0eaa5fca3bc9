"""`cxrpipe emr`: package, submit, status, policy. Handlers: ``cxrpipe.emr.commands``.

A job given after ``--`` is checked by the same parser as the local command; the EMR code gets
that parser as a callable (``args.parse_job``), since nothing outside the CLI imports it.
"""

from __future__ import annotations

import argparse

from ..emr.package import MACHINES
from ..emr.requests import RELEASE_LABEL
from ..flagtypes import COUNT, POSITIVE, checked
from .options import group

EXAMPLE = """examples:
  cxrpipe emr package --out dist
  cxrpipe emr submit --staging s3://BUCKET/cxrpipe-staging --env-archive dist/env.tar.gz --create --wait \\
      -- run --dataset nih --index s3://BUCKET/nih/Data_Entry_2017.csv --images s3://BUCKET/nih/images \\
         --output s3://BUCKET/nih-299
  cxrpipe emr status --cluster-id j-XXXXXXXXXXXXX
"""
POLICY_EXAMPLE = """examples:
  cxrpipe emr policy --staging s3://BUCKET/cxrpipe-staging -- run --dataset nih ... > job-role.json
  cxrpipe emr policy --document ecr-repository --account 123456789012 --region us-east-1 \\
      --serverless-app 00fxxxxxxxxxxxxx > repository-policy.json
  cxrpipe emr policy --document all --account 123456789012 --region us-east-1 -- run ...
"""
POLL_SECONDS = 30.0


def register(subparsers, parents: list[argparse.ArgumentParser], parse_job) -> None:
    """Add `cxrpipe emr` and its subcommands to the main parser's ``subparsers``.

    Args:
        parents: shared option parsers (storage options).
        parse_job: ``argv -> dict`` of a cxrpipe job's parsed options (exits 2 on a bad flag).
    """
    emr = subparsers.add_parser("emr", epilog=EXAMPLE, help="run preprocess/shards/run on Amazon EMR (or EMR Serverless)")
    sub = emr.add_subparsers(dest="emr_command", required=True, metavar="EMR_COMMAND",
                             help="package, submit, status or policy (each has --help)")
    _package(sub, parents)
    _submit(sub, parents).set_defaults(parse_job=parse_job)
    _status(sub, parents)
    _policy(sub, parents).set_defaults(parse_job=parse_job)


def _region() -> argparse.ArgumentParser:
    p = group()
    p.add_argument("--region", default=None, help="AWS region; unset: AWS_DEFAULT_REGION or the AWS config")
    return p


def _project() -> argparse.ArgumentParser:
    p = group()
    p.add_argument("--project-dir", default=None, metavar="DIR",
                   help="the cxrpipe checkout with emr/, jobs/, setup.py; unset: the one cxrpipe runs from")
    return p


def _package(sub, parents):
    from ..emr import commands

    p = sub.add_parser("package", parents=[_project(), *parents],
                       help="build the wheel and the venv-pack archive of its environment")
    p.add_argument("--out", default="dist", metavar="DIR", help="where to write the wheel and env.tar.gz")
    p.add_argument("--python", default="python3.11",
                   help="the Python 3.11 the environment is made with (Linux, the nodes' architecture)")
    p.add_argument("--python-prefix", default="/usr",
                   help="where the nodes' python3.11 lives: bin/python in the archive links to PREFIX/bin/python3.11")
    p.add_argument("--pip-option", action="append", default=[], metavar="OPT",
                   help="an extra option for pip install in the environment (repeatable), e.g. --index-url=URL")
    p.add_argument("--arch", default=None, choices=sorted(MACHINES),
                   help="the nodes' CPU (aarch64: Graviton); refused unless --python runs on it. "
                        "Unset: --python's own")
    p.add_argument("--wheel-only", action="store_true", help="only the wheel (bootstrap.sh or image installs)")
    p.set_defaults(handler=commands.package)
    return p


def _submit(sub, parents):
    from ..emr import commands

    p = sub.add_parser("submit", parents=[_region(), _project(), *parents], epilog=EXAMPLE,
                       help="stage the artifacts and run a cxrpipe job on EMR")
    target = p.add_argument_group("where to run (one of)")
    target.add_argument("--cluster-id", default=None, help="a running cluster (j-...): add a step")
    target.add_argument("--create", action="store_true", help="create a cluster from emr/cluster.json for this job")
    target.add_argument("--serverless-app", default=None, metavar="APP_ID", help="an EMR Serverless application")
    p.add_argument("--staging", required=True, metavar="S3_URI",
                   help="prefix for the uploaded artifacts (and, for --create/serverless, the logs)")
    env = p.add_mutually_exclusive_group()
    env.add_argument("--env-archive", default=None, metavar="PATH",
                     help="a packed environment from `cxrpipe emr package`; unset: pack one now (minutes)")
    env.add_argument("--no-archive", action="store_true",
                     help="the nodes (bootstrap.sh WHEEL) or the serverless image already have cxrpipe")
    p.add_argument("--execution-role", default=None, metavar="ARN", help="EMR Serverless: the job's IAM role")
    p.add_argument("--wait", action="store_true", help="wait for the job and exit 1 if it fails")
    _poll_seconds(p)
    p.add_argument("--dry-run", action="store_true", help="print the requests; upload and submit nothing")
    _cluster_options(p)
    p.add_argument("job", nargs="*", metavar="-- COMMAND ARGS",
                   help="the cxrpipe job exactly as run locally, e.g. -- run --dataset nih ...")
    p.set_defaults(handler=commands.submit)
    return p


def _poll_seconds(p) -> None:
    p.add_argument("--poll-seconds", type=POSITIVE, default=POLL_SECONDS,
                   help=f"seconds between state checks with --wait {POSITIVE}")


def _cluster_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--create: changes to emr/cluster.json (unset: the template's value)")
    g.add_argument("--name", default=None, help="cluster name")
    g.add_argument("--release", default=None,
                   help=f"EMR release label (template: {RELEASE_LABEL}; another 7.x keeps Spark 3.5 and Python 3.11)")
    g.add_argument("--primary-type", default=None, help="primary node instance type")
    g.add_argument("--core-type", default=None, help="core node instance type")
    g.add_argument("--core-count", type=COUNT, default=None, help=f"number of core nodes {COUNT}")
    g.add_argument("--subnet", default=None, help="EC2 subnet id")
    g.add_argument("--key-name", default=None, help="EC2 key pair for SSH")
    g.add_argument("--service-role", default=None, help="EMR service role (template: EMR_DefaultRole)")
    g.add_argument("--instance-profile", default=None,
                   help="EC2 instance profile the jobs run as (template: EMR_EC2_DefaultRole)")
    g.add_argument("--keep-alive", action="store_true", help="keep the cluster after the job (idle timeout 1 h)")


def _status(sub, parents):
    from ..emr import commands

    p = sub.add_parser("status", parents=[_region(), *parents],
                       help="state and log locations of a step or a serverless job run")
    p.add_argument("--cluster-id", default=None, help="the cluster (j-...) the step ran on")
    p.add_argument("--step-id", default=None, help="unset: the cluster's latest step")
    p.add_argument("--serverless-app", default=None, metavar="APP_ID", help="the EMR Serverless application")
    p.add_argument("--job-run", default=None, metavar="JOB_RUN_ID", help="the job run on that application")
    p.add_argument("--wait", action="store_true", help="wait until it ends; exit 1 if it failed")
    _poll_seconds(p)
    p.set_defaults(handler=commands.status)
    return p


def _policy(sub, parents):
    from ..emr import commands, iam

    p = sub.add_parser("policy", parents=parents, epilog=POLICY_EXAMPLE,
                       help="print the IAM policies a job needs: its role's permissions, the roles' trust, "
                            "the custom image's repository policy")
    p.add_argument("--document", default="job-role", choices=[*iam.DOCUMENTS, "all"],
                   help="which one to print, alone (ready for file://); all: a JSON object of every one the "
                        "flags allow, each with where it attaches")
    p.add_argument("--staging", default=None, metavar="S3_URI", help="also read the staged artifacts, write logs")
    p.add_argument("--kms-key", action="append", default=[], metavar="ARN", type=checked(iam.kms_key_arn),
                   help="the KMS key the buckets encrypt with (SSE-KMS; repeatable): the job role may use it through S3")
    p.add_argument("--account", default=None, type=checked(iam.account_id),
                   help="the AWS account id (emr-service-role-trust, ecr-repository)")
    p.add_argument("--region", default=None, type=checked(iam.region_name),
                   help="the cluster's or application's region (emr-service-role-trust, ecr-repository); "
                        "unset: AWS_REGION or AWS_DEFAULT_REGION")
    p.add_argument("--serverless-app", default=None, metavar="APP_ID", type=checked(iam.application_id),
                   help="the EMR Serverless application the custom image is for (ecr-repository)")
    p.add_argument("job", nargs="*", metavar="-- COMMAND ARGS", help="the cxrpipe job, as for submit (job-role)")
    p.set_defaults(handler=commands.policy)
    return p
