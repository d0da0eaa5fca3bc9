"""What each `cxrpipe emr` command does with its parsed arguments: validate, build, call, print."""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .. import storage
from ..errors import JobFailed, UserError
from . import package as packaging
from . import requests, stage, submit as shell, templates
from .envcheck import check_archive_matches


def boto3_client(service: str, region: str | None):
    """A boto3 client for ``service`` ("emr", "emr-serverless") in ``region``."""
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.session.Session(region_name=region).client(service)
    except NoRegionError:
        raise UserError("no AWS region: pass --region or set AWS_DEFAULT_REGION") from None


# ---------------------------------------------------------------- package


def package(args) -> int:
    root = templates.project_root(args.project_dir)
    started = time.monotonic()
    if not args.wheel_only:
        print("building the wheel and packing its environment (installs the dependencies: a few minutes) ...",
              flush=True)
    built = packaging.package(root, Path(args.out), args.python, args.python_prefix, tuple(args.pip_option),
                              args.wheel_only, args.arch)
    for path in (built.wheel, built.archive):
        if path is not None:
            print(f"{path}  {path.stat().st_size / 1e6:,.1f} MB")
    print(f"done in {time.monotonic() - started:,.0f} s")
    if built.archive is not None:
        print(f"next: cxrpipe emr submit --staging s3://BUCKET/PREFIX --env-archive {built.archive} "
              "(--cluster-id ID | --create | --serverless-app ID --execution-role ARN) -- run ...")
    return 0


# ---------------------------------------------------------------- submit


def submit(args) -> int:
    return run_submit(args, boto3_client)


def run_submit(args, make_client, token=lambda: uuid.uuid4().hex, sleep=time.sleep) -> int:
    """`cxrpipe emr submit`, with the client factory, token source and sleep handed in (tests)."""
    command, job_args, _ = _job(args)
    _check_target(args)
    root = templates.project_root(args.project_dir)
    with tempfile.TemporaryDirectory(prefix="cxrpipe-emr-") as tmp:
        built = _artifacts(args, root, Path(tmp))
        files = stage.artifact_files(root, built)
        staged = _stage(args, files, built)
        if args.serverless_app:
            return _submit_serverless(args, root, staged, command, job_args, make_client, token, sleep)
        return _submit_cluster(args, root, staged, command, job_args, make_client, sleep)


def _job(args) -> tuple[str, list[str], dict]:
    """The job's command, its arguments and its parsed options.

    ``args.parse_job`` is the local command's own parser, handed in by the CLI (``argv ->
    dict``): a bad flag stops here (exit 2), not on the cluster.
    """
    try:
        command, job_args = requests.split_job(args.job)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return command, job_args, args.parse_job([command, *job_args])


def _check_target(args) -> None:
    chosen = [flag for flag, value in (("--cluster-id", args.cluster_id), ("--create", args.create),
                                       ("--serverless-app", args.serverless_app)) if value]
    if len(chosen) != 1:
        raise UserError("say where to run, once: --cluster-id j-... (a running cluster), --create (a new cluster "
                        "that ends with the job) or --serverless-app ID --execution-role ARN"
                        + (f"; got {' and '.join(chosen)}" if chosen else ""))
    if args.serverless_app and not args.execution_role:
        raise UserError("--serverless-app needs --execution-role ARN: the IAM role the job runs as")
    if not storage.is_s3(args.staging):
        raise UserError(f"--staging must be an s3:// prefix (EMR reads the artifacts from S3), got {args.staging!r}")


def _artifacts(args, root: Path, tmp: Path) -> packaging.Package:
    wheel = packaging.build_wheel(root, tmp)
    if args.no_archive:
        return packaging.Package(wheel, None)
    if args.env_archive:
        archive = Path(args.env_archive)
        if not archive.is_file():
            raise UserError(f"--env-archive {archive} does not exist: build one with `cxrpipe emr package --out DIR`")
        check_archive_matches(archive, wheel)
        return packaging.Package(wheel, archive)
    print("no --env-archive: packing the environment now (a few minutes; reuse it with --env-archive)",
          file=sys.stderr, flush=True)
    return packaging.Package(wheel, packaging.build_env(wheel, tmp))


def _stage(args, files, built) -> requests.Staged:
    if args.dry_run:
        return stage.staged_for(args.staging, files, built)
    done = stage.upload(args.staging, files, built, storage.StorageConfig.from_env(args.s3_endpoint))
    print(f"staged {len(files)} files in {done.staged.prefix}/ "
          f"({len(done.sent)} uploaded, {len(done.present)} already there)")
    return done.staged


def _submit_cluster(args, root, staged, command, job_args, make_client, sleep) -> int:
    action = "TERMINATE_CLUSTER" if args.create and not args.keep_alive else "CONTINUE"
    step = requests.step(templates.load(root, requests.STEP_TEMPLATES[command]), staged, command, job_args, action)
    logs = storage.join(args.staging, "logs") + "/"
    if args.create:
        request = requests.cluster(templates.load(root, "emr/cluster.json"),
                                   templates.load(root, "emr/configurations.json"), staged, [step],
                                   _cluster_options(args, logs))
    else:
        request = requests.add_steps(args.cluster_id, [step])
    if args.dry_run:
        return _print_request("run_job_flow" if args.create else "add_job_flow_steps", request)
    emr = make_client("emr", args.region)
    if args.create:
        cluster_id = shell.create_cluster(emr, request)
        step_id, log_uri = shell.step_ids(emr, cluster_id)[-1], logs
    else:
        cluster_id, step_id = args.cluster_id, shell.add_steps(emr, request)[0]
        log_uri = shell.log_uri(emr, cluster_id)
    _report_step(cluster_id, step_id, log_uri, command, job_args, step)
    if not args.wait:
        return 0
    return _finish(shell.wait(lambda: shell.step_outcome(emr, cluster_id, step_id), shell.STEP_DONE,
                              _print_state, sleep, args.poll_seconds))


def _cluster_options(args, logs: str) -> requests.ClusterOptions:
    return requests.ClusterOptions(
        logs=logs, name=args.name, release=args.release, primary_type=args.primary_type,
        core_type=args.core_type, core_count=args.core_count, subnet=args.subnet, key_name=args.key_name,
        keep_alive=args.keep_alive, service_role=args.service_role, instance_profile=args.instance_profile)


def _submit_serverless(args, root, staged, command, job_args, make_client, token, sleep) -> int:
    logs = storage.join(args.staging, "logs") + "/"
    request = requests.serverless_job(
        templates.load(root, "emr/serverless-job.json"), staged, command, job_args,
        application_id=args.serverless_app, role_arn=args.execution_role, client_token=token(), logs=logs)
    if args.dry_run:
        return _print_request("start_job_run", request)
    client = make_client("emr-serverless", args.region)
    run_id = shell.start_job_run(client, request)
    print(f"started job run {run_id} on EMR Serverless application {args.serverless_app}: cxrpipe {command}")
    print(f"  runs:           cxrpipe {shlex.join([command, *job_args])}")
    print(f"  driver output:  {requests.serverless_logs(logs, args.serverless_app, run_id)}")
    print(f"  check:          cxrpipe emr status --serverless-app {args.serverless_app} --job-run {run_id}")
    if not args.wait:
        return 0
    return _finish(shell.wait(lambda: shell.job_run_outcome(client, args.serverless_app, run_id),
                              shell.RUN_DONE, _print_state, sleep, args.poll_seconds))


def _print_request(method: str, request: dict) -> int:
    print(f"# {method}")
    print(json.dumps(request, indent=2))
    return 0


def _report_step(cluster_id, step_id, log_uri, command, job_args, step) -> None:
    print(f"added step {step_id} to cluster {cluster_id}: {step['Name']}")
    print(f"  runs:           cxrpipe {shlex.join([command, *job_args])}")
    print(f"  as:             {shlex.join(step['HadoopJarStep']['Args'])}")
    _print_logs(cluster_id, step_id, log_uri)
    print(f"  check:          cxrpipe emr status --cluster-id {cluster_id} --step-id {step_id}")


def _print_logs(cluster_id, step_id, log_uri) -> None:
    if not log_uri:
        print("  logs:           the cluster has no LogUri: see the step in the EMR console (or yarn logs on the primary)")
        return
    print(f"  step logs:      {requests.step_logs(log_uri, cluster_id, step_id)}  (pushed about every 5 minutes)")
    print(f"  driver output:  {requests.container_logs(log_uri, cluster_id)}application_*/container_*_01_000001/stdout.gz")


def _print_state(outcome: shell.Outcome) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {outcome.state}" + (f": {outcome.detail}" if outcome.detail else ""),
          flush=True)


def _finish(outcome: shell.Outcome) -> int:
    if not outcome.succeeded:
        raise JobFailed(f"the job ended {outcome.state}" + (f": {outcome.detail}" if outcome.detail else ""))
    return 0


# ---------------------------------------------------------------- status


def status(args) -> int:
    return run_status(args, boto3_client)


def run_status(args, make_client, sleep=time.sleep) -> int:
    """`cxrpipe emr status`: the state of a step or job run, its logs, and (with --wait) its end."""
    if args.serverless_app and args.job_run:
        client = make_client("emr-serverless", args.region)
        poll = lambda: shell.job_run_outcome(client, args.serverless_app, args.job_run)  # noqa: E731
        done = shell.RUN_DONE
    elif args.cluster_id:
        emr = make_client("emr", args.region)
        step_id = args.step_id or _latest_step(emr, args.cluster_id)
        _print_logs(args.cluster_id, step_id, shell.log_uri(emr, args.cluster_id))
        poll = lambda: shell.step_outcome(emr, args.cluster_id, step_id)  # noqa: E731
        done = shell.STEP_DONE
    else:
        raise UserError("say which job: --cluster-id j-... [--step-id s-...] or --serverless-app ID --job-run ID")
    if args.wait:
        return _finish(shell.wait(poll, done, _print_state, sleep, args.poll_seconds))
    outcome = poll()
    _print_state(outcome)
    return 1 if outcome.state in done and not outcome.succeeded else 0


def _latest_step(emr, cluster_id: str) -> str:
    ids = shell.step_ids(emr, cluster_id)
    if not ids:
        raise UserError(f"cluster {cluster_id} has no steps: submit one with `cxrpipe emr submit --cluster-id {cluster_id}`")
    return ids[-1]


# ---------------------------------------------------------------- policy


def policy(args) -> int:
    """Print the IAM document ``--document`` names (or, with ``all``, every one the flags allow)."""
    from . import iam

    inputs = iam.Inputs(job_policy=_job_policy(args) if args.job else None, account=args.account,
                        region=args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                        application=args.serverless_app)
    if args.document == "all":
        written, left_out = iam.every_document(inputs)
        print(json.dumps(written, indent=2))
        for name, flags in left_out.items():
            print(f"left out {name}: it needs {' and '.join(flags)}", file=sys.stderr)
        return 0
    needs = iam.missing(args.document, inputs)
    if needs:
        raise UserError(f"--document {args.document} needs {' and '.join(needs)}")
    print(json.dumps(iam.DOCUMENTS[args.document].build(inputs), indent=2))
    print(f"# {args.document}: {iam.DOCUMENTS[args.document].attach}", file=sys.stderr)
    return 0


def _job_policy(args) -> dict:
    """The job role's permissions: the job's S3 reads and writes, staging, logs, SSE-KMS keys."""
    from .policy import job_locations, job_policy

    _, _, options = _job(args)
    try:
        reads, writes = job_locations(options)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    staging = args.staging.rstrip("/") if args.staging else None
    return job_policy(reads, writes, artifacts=staging and storage.join(staging, "cxrpipe-*"),
                      logs=staging and storage.join(staging, "logs"), kms_keys=tuple(args.kms_key))
