"""Pure builders of the boto3 requests a submission makes, from the ``emr/`` templates.

Each function takes a parsed template and values and returns the dict handed to boto3 as
keyword arguments; nothing here talks to AWS, so tests compare the dicts with what EMR expects.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage import join
from .templates import fill

# cxrpipe command -> its spark-submit entry point under jobs/.
JOB_SCRIPTS = {"preprocess": "preprocess.py", "shards": "make_shards.py", "run": "run.py"}
ENV_ARCHIVE = "env.tar.gz"
# The packed environment, unpacked by YARN (or EMR Serverless) into each container's ./environment.
ARCHIVE_PYTHON = "./environment/bin/python"
# The nodes' own Python 3.11: bootstrap.sh installs the wheel into it, and so do the Docker images.
NODE_PYTHON = "/usr/bin/python3.11"
STEP_TEMPLATES = {command: f"emr/steps/{command}.json" for command in JOB_SCRIPTS}
# The EMR release everything here is written for: the newest 7.x (Spark 3.5, Python 3.11) in AWS's
# release guide when last checked, standard support until 2028-09-08. emr/cluster.json, the EMR
# Serverless Dockerfile and docs/emr.md name it too; a test keeps them equal to this.
RELEASE_LABEL = "emr-7.14.0"


@dataclass(frozen=True)
class Staged:
    """Where one submission's artifacts are in S3.

    Attributes:
        prefix: ``s3://.../cxrpipe-VERSION/DIGEST``, holding ``jobs/``, ``emr/``, the wheel and
            (when ``with_archive``) ``env.tar.gz``.
        wheel: the wheel's file name under ``prefix``.
        with_archive: the jobs run in the packed environment; else in the nodes' (or image's) Python.
    """

    prefix: str
    wheel: str
    with_archive: bool = True

    def uri(self, relative: str) -> str:
        return join(self.prefix, relative)

    @property
    def python(self) -> str:
        return ARCHIVE_PYTHON if self.with_archive else NODE_PYTHON


@dataclass(frozen=True)
class ClusterOptions:
    """What a created cluster may change in ``emr/cluster.json``; None keeps the template's value."""

    logs: str
    name: str | None = None
    release: str | None = None
    primary_type: str | None = None
    core_type: str | None = None
    core_count: int | None = None
    subnet: str | None = None
    key_name: str | None = None
    keep_alive: bool = False
    service_role: str | None = None
    instance_profile: str | None = None


def split_job(argv: list[str]) -> tuple[str, list[str]]:
    """The cxrpipe command and its arguments, from what follows ``--`` on the command line.

    Raises:
        ValueError: no command, one EMR cannot run, an empty argument, or ``--master``.
    """
    if not argv:
        raise ValueError("say which cxrpipe job to run after `--`, e.g. `-- run --dataset nih --index ...`")
    command, args = argv[0], list(argv[1:])
    if command not in JOB_SCRIPTS:
        raise ValueError(f"cannot run `cxrpipe {command}` on EMR: the jobs are {', '.join(JOB_SCRIPTS)}")
    if "" in args:
        raise ValueError("an argument of the job is empty: EMR rejects empty step arguments")
    if any(a == "--master" or a.startswith("--master=") for a in args):
        raise ValueError("--master: on EMR the master is the cluster's (YARN); drop --master from the job's arguments")
    return command, args


def drop_option(tokens: list[str], flag: str, value_prefix: str = "") -> list[str]:
    """``tokens`` without each ``flag VALUE`` pair whose value starts with ``value_prefix``."""
    kept, i = [], 0
    while i < len(tokens):
        if tokens[i] == flag and i + 1 < len(tokens) and tokens[i + 1].startswith(value_prefix):
            i += 2
            continue
        kept.append(tokens[i])
        i += 1
    return kept


def _values(staged: Staged, command: str, logs: str = "") -> dict[str, str]:
    return {"ARTIFACTS": staged.prefix, "PYTHON": staged.python, "LOGS": logs, "COMMAND": command,
            "SCRIPT": JOB_SCRIPTS[command]}


def step(template: dict, staged: Staged, command: str, job_args: list[str],
         action_on_failure: str = "CONTINUE") -> dict:
    """One EMR step: ``command-runner.jar spark-submit --deploy-mode cluster ... jobs/X.py ARGS``.

    ``job_args`` follow the script unchanged, so the step runs what ``cxrpipe COMMAND ARGS`` runs
    locally. Without the archive, the ``--archives`` option is left out and the nodes' Python is used.
    The templates set the driver's Python as well as the executors': EMR's spark-env exports
    ``PYSPARK_DRIVER_PYTHON=/usr/bin/python3`` (3.9, no cxrpipe), YARN hands the submitter's value to
    the driver in cluster mode unless ``spark.yarn.appMasterEnv`` sets it, and it wins over ``PYSPARK_PYTHON``.
    """
    request = fill(template, _values(staged, command))
    args = request["HadoopJarStep"]["Args"]
    if not staged.with_archive:
        args = drop_option(args, "--archives")
    request["HadoopJarStep"]["Args"] = args + list(job_args)
    request["ActionOnFailure"] = action_on_failure
    return request


def add_steps(cluster_id: str, steps: list[dict]) -> dict:
    """The ``add_job_flow_steps`` request."""
    return {"JobFlowId": cluster_id, "Steps": steps}


def cluster(template: dict, configurations: list, staged: Staged, steps: list[dict],
            options: ClusterOptions) -> dict:
    """The ``run_job_flow`` request: ``emr/cluster.json`` with ``configurations`` and ``steps``.

    Without the archive, the bootstrap action is handed the wheel to install on every node.
    """
    request = fill(template, {"ARTIFACTS": staged.prefix, "LOGS": options.logs})
    request["Configurations"] = configurations
    request["Steps"] = steps
    instances = request["Instances"]
    instances["KeepJobFlowAliveWhenNoSteps"] = options.keep_alive
    _set_group(instances, "MASTER", options.primary_type, None)
    _set_group(instances, "CORE", options.core_type, options.core_count)
    optional = {"Ec2SubnetId": options.subnet, "Ec2KeyName": options.key_name}
    instances.update({key: value for key, value in optional.items() if value})
    top = {"Name": options.name, "ReleaseLabel": options.release, "ServiceRole": options.service_role,
           "JobFlowRole": options.instance_profile}
    request.update({key: value for key, value in top.items() if value})
    if not staged.with_archive:
        for action in request.get("BootstrapActions", []):
            action["ScriptBootstrapAction"]["Args"] = [staged.uri(staged.wheel)]
    return request


def _set_group(instances: dict, role: str, instance_type: str | None, count: int | None) -> None:
    for group in instances["InstanceGroups"]:
        if group["InstanceRole"] == role:
            if instance_type:
                group["InstanceType"] = instance_type
            if count is not None:
                group["InstanceCount"] = count


def serverless_job(template: dict, staged: Staged, command: str, job_args: list[str], *,
                   application_id: str, role_arn: str, client_token: str, logs: str) -> dict:
    """The EMR Serverless ``start_job_run`` request for ``cxrpipe COMMAND ARGS``.

    With the archive, ``spark.archives`` ships the packed environment; without it, the
    application's custom image (docker/emr-serverless.Dockerfile) has cxrpipe installed.
    """
    request = fill(template, _values(staged, command, logs))
    driver = request["jobDriver"]["sparkSubmit"]
    driver["entryPointArguments"] = list(job_args)
    if not staged.with_archive:
        params = drop_option(driver["sparkSubmitParameters"].split(), "--conf", "spark.archives=")
        driver["sparkSubmitParameters"] = " ".join(params)
    request.update(applicationId=application_id, executionRoleArn=role_arn, clientToken=client_token)
    return request


def s3_uri(uri: str) -> str:
    """EMR reports log URIs as ``s3n://``; the rest of cxrpipe (and the AWS CLI) says ``s3://``."""
    return "s3://" + uri[len("s3n://"):] if uri.startswith("s3n://") else uri


def step_logs(log_uri: str, cluster_id: str, step_id: str) -> str:
    """Where EMR puts a step's controller, stdout and stderr logs."""
    return join(s3_uri(log_uri), cluster_id, "steps", step_id) + "/"


def container_logs(log_uri: str, cluster_id: str) -> str:
    """Where the YARN containers' logs go; the driver's output is in the application's first container."""
    return join(s3_uri(log_uri), cluster_id, "containers") + "/"


def serverless_logs(log_uri: str, application_id: str, job_run_id: str) -> str:
    """Where EMR Serverless puts the driver's stdout and stderr."""
    return join(s3_uri(log_uri), "applications", application_id, "jobs", job_run_id, "SPARK_DRIVER") + "/"
