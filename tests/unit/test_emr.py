"""EMR submission: the requests EMR receives (checked by botocore's Stubber against the service
models), the step running the same command as locally, the templates, the policy, the waiting."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cxrpipe.cli import build_parser, main
from cxrpipe.emr import commands, package, policy, requests, submit, templates
from cxrpipe.errors import JobFailed, UserError

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "s3://stage-bucket/cxr/cxrpipe-0.1.0/0123456789abcdef"
WHEEL = "cxrpipe-0.1.0-py3-none-any.whl"
JOB = ["run", "--dataset", "nih", "--index", "s3://data/nih/Data_Entry_2017.csv", "--images", "s3://data/nih/images",
       "--output", "s3://out/nih-299", "--classes", "Effusion,No Finding", "--num-shards", "8"]


def emr_client(service: str = "emr"):
    import boto3

    return boto3.session.Session(region_name="us-east-1").client(service)


def stubbed(service: str = "emr"):
    from botocore.stub import Stubber

    client = emr_client(service)
    return client, Stubber(client)


def step_for(job: list[str], with_archive: bool = True, action: str = "CONTINUE") -> dict:
    command, args = requests.split_job(job)
    template = templates.load(ROOT, requests.STEP_TEMPLATES[command])
    return requests.step(template, requests.Staged(PREFIX, WHEEL, with_archive), command, args, action)


# ---------------------------------------------------------------- the step is the local command


def test_step_is_spark_submit_of_the_job_script_with_the_packed_environment():
    assert step_for(JOB) == {
        "Name": "cxrpipe run",
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
            "spark-submit", "--deploy-mode", "cluster",
            "--archives", f"{PREFIX}/env.tar.gz#environment",
            "--conf", "spark.yarn.appMasterEnv.PYSPARK_PYTHON=./environment/bin/python",
            "--conf", "spark.yarn.appMasterEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python",
            "--conf", "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python",
            "--conf", "spark.python.daemon.module=cxrpipe.spark.daemon",
            f"{PREFIX}/jobs/run.py", *JOB[1:]]},
    }


@pytest.mark.parametrize("command", sorted(requests.JOB_SCRIPTS))
@pytest.mark.parametrize("with_archive", [True, False])
def test_every_step_gives_the_driver_the_executors_python(command, with_archive):
    """EMR's spark-env exports PYSPARK_DRIVER_PYTHON=/usr/bin/python3 (3.9), which YARN hands to a
    cluster-mode driver unless the step sets it, and which the driver prefers to PYSPARK_PYTHON."""
    template = templates.load(ROOT, requests.STEP_TEMPLATES[command])
    args = requests.step(template, requests.Staged(PREFIX, WHEEL, with_archive), command, [])["HadoopJarStep"]["Args"]
    confs = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--conf")
    python = "./environment/bin/python" if with_archive else "/usr/bin/python3.11"
    assert confs == {"spark.yarn.appMasterEnv.PYSPARK_PYTHON": python,
                     "spark.yarn.appMasterEnv.PYSPARK_DRIVER_PYTHON": python,
                     "spark.executorEnv.PYSPARK_PYTHON": python,
                     # the submission names cxrpipe's worker daemon (spark_session leaves it to it)
                     "spark.python.daemon.module": "cxrpipe.spark.daemon"}


@pytest.mark.parametrize("job", [
    JOB,
    ["preprocess", "--dataset", "chexpert", "--index", "s3://d/CheXpert-v1.0-small/train.csv",
     "--images", "s3://d", "--output", "s3://o/chexpert", "--uncertain", "ones"],
    ["shards", "--input", "s3://o/nih-299", "--output", "s3://o/nih-shards", "--classes", "Effusion,Edema"],
])
def test_the_arguments_after_the_script_parse_as_the_same_local_command(job):
    args = step_for(job)["HadoopJarStep"]["Args"]
    script = next(i for i, a in enumerate(args) if a.endswith(".py"))
    assert args[script + 1:] == job[1:]
    # The entry point prepends its command, as jobs/<script> does: the local parser must agree.
    local = build_parser().parse_args([job[0], *args[script + 1:]])
    assert local.command == job[0]
    assert vars(local) == vars(build_parser().parse_args(job))


@pytest.mark.parametrize("command, script", sorted(requests.JOB_SCRIPTS.items()))
def test_each_job_script_runs_its_cxrpipe_command(command, script):
    done = subprocess.run([sys.executable, str(ROOT / "jobs" / script), "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: cxrpipe {command} ")


def test_without_the_archive_the_step_uses_the_nodes_python_and_ships_nothing():
    args = step_for(JOB, with_archive=False)["HadoopJarStep"]["Args"]
    assert "--archives" not in args
    assert "spark.executorEnv.PYSPARK_PYTHON=/usr/bin/python3.11" in args
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    assert args[-len(JOB) + 1:] == JOB[1:]


@pytest.mark.parametrize("argv, message", [
    ([], "after `--`"),
    (["verify", "s3://o/x"], "cannot run `cxrpipe verify` on EMR"),
    (["run", "--master", "local[2]"], "--master"),
    (["run", "--classes", ""], "empty"),
])
def test_jobs_emr_cannot_run_are_refused(argv, message):
    with pytest.raises(ValueError, match=message):
        requests.split_job(argv)


# ---------------------------------------------------------------- the exact requests (Stubber)


def test_add_job_flow_steps_request_and_log_locations():
    emr, stub = stubbed()
    step = step_for(JOB)
    stub.add_response("add_job_flow_steps", {"StepIds": ["s-2ABC"]},
                      expected_params={"JobFlowId": "j-1K48XXXXXXHCB", "Steps": [step]})
    stub.add_response("describe_cluster", {"Cluster": {"Id": "j-1K48XXXXXXHCB", "LogUri": "s3n://logs-bucket/emr/"}},
                      expected_params={"ClusterId": "j-1K48XXXXXXHCB"})
    with stub:
        assert submit.add_steps(emr, requests.add_steps("j-1K48XXXXXXHCB", [step])) == ["s-2ABC"]
        log_uri = submit.log_uri(emr, "j-1K48XXXXXXHCB")
    stub.assert_no_pending_responses()
    assert requests.step_logs(log_uri, "j-1K48XXXXXXHCB", "s-2ABC") == "s3://logs-bucket/emr/j-1K48XXXXXXHCB/steps/s-2ABC/"
    assert requests.container_logs(log_uri, "j-1K48XXXXXXHCB") == "s3://logs-bucket/emr/j-1K48XXXXXXHCB/containers/"


@pytest.mark.parametrize("with_archive, python", [(True, "./environment/bin/python"), (False, "/usr/bin/python3.11")])
def test_add_job_flow_steps_sets_the_drivers_python(with_archive, python):
    emr, stub = stubbed()
    archive = ["--archives", f"{PREFIX}/env.tar.gz#environment"] if with_archive else []
    expected = {"JobFlowId": "j-1K48XXXXXXHCB", "Steps": [{
        "Name": "cxrpipe run", "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
            "spark-submit", "--deploy-mode", "cluster", *archive,
            "--conf", f"spark.yarn.appMasterEnv.PYSPARK_PYTHON={python}",
            "--conf", f"spark.yarn.appMasterEnv.PYSPARK_DRIVER_PYTHON={python}",
            "--conf", f"spark.executorEnv.PYSPARK_PYTHON={python}",
            "--conf", "spark.python.daemon.module=cxrpipe.spark.daemon",
            f"{PREFIX}/jobs/run.py", *JOB[1:]]},
    }]}
    stub.add_response("add_job_flow_steps", {"StepIds": ["s-3DRV"]}, expected_params=expected)
    with stub:
        request = requests.add_steps("j-1K48XXXXXXHCB", [step_for(JOB, with_archive)])
        assert submit.add_steps(emr, request) == ["s-3DRV"]
    stub.assert_no_pending_responses()


def cluster_request(with_archive: bool = True, **options) -> dict:
    staged = requests.Staged(PREFIX, WHEEL, with_archive)
    step = step_for(JOB, with_archive, action="TERMINATE_CLUSTER")
    return requests.cluster(templates.load(ROOT, "emr/cluster.json"), templates.load(ROOT, "emr/configurations.json"),
                            staged, [step], requests.ClusterOptions(logs="s3://stage-bucket/cxr/logs/", **options))


def test_run_job_flow_request():
    emr, stub = stubbed()
    configurations = json.loads((ROOT / "emr" / "configurations.json").read_text())
    expected = {
        "Name": "cxrpipe nih", "ReleaseLabel": requests.RELEASE_LABEL, "LogUri": "s3://stage-bucket/cxr/logs/",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "primary", "InstanceRole": "MASTER", "Market": "ON_DEMAND", "InstanceType": "m6i.xlarge",
                 "InstanceCount": 1},
                {"Name": "core", "InstanceRole": "CORE", "Market": "ON_DEMAND", "InstanceType": "m6i.4xlarge",
                 "InstanceCount": 10},
            ],
            "KeepJobFlowAliveWhenNoSteps": False, "TerminationProtected": False, "Ec2SubnetId": "subnet-0abc",
        },
        "BootstrapActions": [{"Name": "cxrpipe python", "ScriptBootstrapAction": {
            "Path": f"{PREFIX}/emr/bootstrap.sh", "Args": []}}],
        "JobFlowRole": "EMR_EC2_DefaultRole", "ServiceRole": "EMR_DefaultRole", "VisibleToAllUsers": True,
        "StepConcurrencyLevel": 1, "AutoTerminationPolicy": {"IdleTimeout": 3600},
        "Tags": [{"Key": "application", "Value": "cxrpipe"}],
        "Configurations": configurations,
        "Steps": [step_for(JOB, action="TERMINATE_CLUSTER")],
    }
    stub.add_response("run_job_flow", {"JobFlowId": "j-NEW"}, expected_params=expected)
    stub.add_response("list_steps", {"Steps": [{"Id": "s-NEW"}]}, expected_params={"ClusterId": "j-NEW"})
    with stub:
        request = cluster_request(name="cxrpipe nih", core_type="m6i.4xlarge", core_count=10, subnet="subnet-0abc")
        assert submit.create_cluster(emr, request) == "j-NEW"
        assert submit.step_ids(emr, "j-NEW") == ["s-NEW"]
    stub.assert_no_pending_responses()


def test_without_the_archive_every_node_installs_the_wheel_at_bootstrap():
    request = cluster_request(with_archive=False)
    assert request["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"] == [f"{PREFIX}/{WHEEL}"]


def test_emr_serverless_start_job_run_request():
    client, stub = stubbed("emr-serverless")
    _, args = requests.split_job(JOB)
    python = "./environment/bin/python"
    expected = {
        "applicationId": "00fabcdef1234567", "executionRoleArn": "arn:aws:iam::123456789012:role/cxrpipe-job",
        "clientToken": "token-1", "name": "cxrpipe run",
        "jobDriver": {"sparkSubmit": {
            "entryPoint": f"{PREFIX}/jobs/run.py",
            "entryPointArguments": JOB[1:],
            "sparkSubmitParameters": (
                f"--conf spark.archives={PREFIX}/env.tar.gz#environment "
                f"--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={python} "
                f"--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON={python} "
                f"--conf spark.executorEnv.PYSPARK_PYTHON={python} "
                "--conf spark.python.daemon.module=cxrpipe.spark.daemon "
                "--conf spark.executor.cores=4 --conf spark.executor.memory=4g --conf spark.executor.memoryOverhead=1g "
                "--conf spark.executor.pyspark.memory=6g --conf spark.driver.memory=4g "
                "--conf spark.dynamicAllocation.enabled=true"),
        }},
        "configurationOverrides": {"monitoringConfiguration": {
            "s3MonitoringConfiguration": {"logUri": "s3://stage-bucket/cxr/logs/"}}},
    }
    stub.add_response("start_job_run", {"applicationId": "00fabcdef1234567", "jobRunId": "00run1",
                                        "arn": "arn:aws:emr-serverless:us-east-1:123456789012:/applications/x/jobruns/y"},
                      expected_params=expected)
    request = requests.serverless_job(
        templates.load(ROOT, "emr/serverless-job.json"), requests.Staged(PREFIX, WHEEL), "run", args,
        application_id="00fabcdef1234567", role_arn="arn:aws:iam::123456789012:role/cxrpipe-job",
        client_token="token-1", logs="s3://stage-bucket/cxr/logs/")
    with stub:
        assert submit.start_job_run(client, request) == "00run1"
    stub.assert_no_pending_responses()
    assert requests.serverless_logs("s3://stage-bucket/cxr/logs/", "00fabcdef1234567", "00run1") == \
        "s3://stage-bucket/cxr/logs/applications/00fabcdef1234567/jobs/00run1/SPARK_DRIVER/"


def test_serverless_on_a_custom_image_ships_no_archive():
    request = requests.serverless_job(
        templates.load(ROOT, "emr/serverless-job.json"), requests.Staged(PREFIX, WHEEL, with_archive=False), "run",
        JOB[1:], application_id="app1", role_arn="arn:aws:iam::123456789012:role/r", client_token="t", logs="s3://l/")
    params = request["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    assert "spark.archives" not in params
    assert "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=/usr/bin/python3.11" in params


def test_waiting_for_a_step_reports_each_state_once_and_the_failure():
    emr, stub = stubbed()
    states = [("PENDING", {}), ("RUNNING", {}), ("RUNNING", {}),
              ("FAILED", {"FailureDetails": {"Reason": "Unknown Error.", "LogFile": "s3://l/j-1/steps/s-1/stderr.gz"}})]
    for state, extra in states:
        stub.add_response("describe_step", {"Step": {"Id": "s-1", "Status": {"State": state, **extra}}},
                          expected_params={"ClusterId": "j-1", "StepId": "s-1"})
    heard, slept = [], []
    with stub:
        outcome = submit.wait(lambda: submit.step_outcome(emr, "j-1", "s-1"), submit.STEP_DONE, heard.append,
                              sleep=slept.append, seconds=15)
    assert [o.state for o in heard] == ["PENDING", "RUNNING", "FAILED"]
    assert slept == [15, 15, 15]
    assert not outcome.succeeded and "s3://l/j-1/steps/s-1/stderr.gz" in outcome.detail


def test_waiting_gives_up_after_max_polls():
    with pytest.raises(TimeoutError, match="RUNNING"):
        submit.wait(lambda: submit.Outcome("RUNNING", False), submit.STEP_DONE, lambda o: None,
                    sleep=lambda s: None, max_polls=3)


def test_status_of_a_serverless_run_that_failed_exits_1():
    client, stub = stubbed("emr-serverless")
    stub.add_response("get_job_run", {"jobRun": {
        "applicationId": "app1", "jobRunId": "run1", "createdAt": 0, "updatedAt": 0,
        "arn": "arn:aws:emr-serverless:us-east-1:123456789012:/applications/app1/jobruns/run1",
        "createdBy": "arn:aws:iam::123456789012:user/me",
        "executionRole": "arn:aws:iam::123456789012:role/r", "state": "FAILED", "stateDetails": "exit code 2",
        "releaseLabel": requests.RELEASE_LABEL, "jobDriver": {"sparkSubmit": {"entryPoint": "s3://x/run.py"}}}},
        expected_params={"applicationId": "app1", "jobRunId": "run1"})
    args = argparse.Namespace(serverless_app="app1", job_run="run1", cluster_id=None, step_id=None, region=None,
                              wait=False, poll_seconds=1)
    with stub:
        assert commands.run_status(args, lambda service, region: client) == 1


def test_emr_refusals_and_missing_credentials_are_user_errors(monkeypatch, tmp_path):
    emr, stub = stubbed()
    stub.add_client_error("add_job_flow_steps", service_error_code="ValidationException",
                          service_message="Specified job flow ID not valid")
    with stub, pytest.raises(UserError, match="add_job_flow_steps refused .*ValidationException.*not valid"):
        submit.add_steps(emr, requests.add_steps("j-NOPE", [step_for(JOB)]))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(UserError, match="no AWS credentials"):
        submit.step_outcome(emr_client(), "j-1", "s-1")


# ---------------------------------------------------------------- the command line


def test_submit_without_a_target_is_one_line_exit_2(capsys):
    code = main(["emr", "submit", "--staging", "s3://b/stage", "--no-archive", "--", *JOB])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--cluster-id" in err and "--create" in err and "--serverless-app" in err


def test_submit_checks_the_job_with_the_local_parser_before_anything_else(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["emr", "submit", "--staging", "s3://b/stage", "--create", "--", "run", "--dataset", "kaggle"])
    assert exc.value.code == 2
    assert "invalid choice: 'kaggle'" in capsys.readouterr().err


def test_serverless_needs_an_execution_role(capsys):
    code = main(["emr", "submit", "--staging", "s3://b/s", "--serverless-app", "app1", "--no-archive", "--", *JOB])
    assert code == 2 and "--execution-role" in capsys.readouterr().err


def emr_subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    emr = top.choices["emr"]
    return next(a for a in emr._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("name", ["package", "submit", "status", "policy"])
def test_every_emr_option_has_help_with_its_default(name):
    sub = emr_subparsers()[name]
    text = " ".join(sub.format_help().split())
    for action in sub._actions:
        assert action.help, f"emr {name} {action.dest} has no help"
        if action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings:
            assert f"(default: {action.default})" in text


# ---------------------------------------------------------------- templates, configuration, policy


def test_fill_names_a_missing_placeholder():
    with pytest.raises(ValueError, match=r"\$\{ARTIFACTS\}"):
        templates.fill({"a": ["${ARTIFACTS}/x"]}, {"PYTHON": "p"})
    assert templates.fill({"a": ["$${KEEP}", 3, True]}, {}) == {"a": ["${KEEP}", 3, True]}


def test_a_folder_without_the_templates_is_not_a_checkout(tmp_path):
    with pytest.raises(UserError, match="not a cxrpipe checkout"):
        templates.project_root(str(tmp_path))


def test_spark_configuration_fits_the_template_core_nodes():
    """Executors (JVM heap + overhead + Python workers) must fit YARN's share of a core node."""
    props = {c["Classification"]: c for c in templates.load(ROOT, "emr/configurations.json")}
    spark = props["spark-defaults"]["Properties"]
    cluster = templates.load(ROOT, "emr/cluster.json")
    core = next(g for g in cluster["Instances"]["InstanceGroups"] if g["InstanceRole"] == "CORE")
    # EMR's defaults for this type: 8 vCPU, yarn.nodemanager.resource.memory-mb = 24576.
    assert core["InstanceType"] == "m6i.2xlarge"
    vcpus, yarn_mb = 8, 24576
    gb = lambda v: int(v.rstrip("g")) * 1024  # noqa: E731
    container = gb(spark["spark.executor.memory"]) + gb(spark["spark.executor.memoryOverhead"]) \
        + gb(spark["spark.executor.pyspark.memory"])
    per_node = vcpus // int(spark["spark.executor.cores"])
    assert per_node * container <= yarn_mb
    assert gb(spark["spark.executor.pyspark.memory"]) // int(spark["spark.executor.cores"]) >= 1024
    assert spark["spark.dynamicAllocation.enabled"] == "true"
    assert props["spark"]["Properties"]["maximizeResourceAllocation"] == "false"
    exports = props["spark-env"]["Configurations"][0]
    assert exports["Classification"] == "export"
    # The driver's too: EMR's own spark-env points PYSPARK_DRIVER_PYTHON at python3 (3.9).
    assert exports["Properties"] == {"PYSPARK_PYTHON": requests.NODE_PYTHON, "PYSPARK_DRIVER_PYTHON": requests.NODE_PYTHON}


def test_job_policy_reads_inputs_and_writes_only_the_output():
    parsed = vars(build_parser().parse_args(JOB))
    reads, writes = policy.job_locations(parsed)
    document = policy.job_policy(reads, writes)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["ReadInputs"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadInputs"]["Resource"] == [
        "arn:aws:s3:::data/nih/images", "arn:aws:s3:::data/nih/images/*",
        "arn:aws:s3:::data/nih/Data_Entry_2017.csv", "arn:aws:s3:::data/nih/Data_Entry_2017.csv/*"]
    assert by_sid["WriteOutputs"]["Resource"] == ["arn:aws:s3:::out/nih-299", "arn:aws:s3:::out/nih-299/*"]
    assert "s3:PutObject" in by_sid["WriteOutputs"]["Action"] and "s3:PutObject" not in by_sid["ReadInputs"]["Action"]
    assert by_sid["FindBuckets"]["Resource"] == ["arn:aws:s3:::data", "arn:aws:s3:::out"]
    assert by_sid["FindStaleUploads"] == {"Sid": "FindStaleUploads", "Effect": "Allow",
                                          "Action": ["s3:ListBucketMultipartUploads"], "Resource": ["arn:aws:s3:::out"]}


def test_policy_command_prints_a_policy_for_the_job(capsys):
    assert main(["emr", "policy", "--staging", "s3://stage-bucket/cxr", "--", *JOB]) == 0
    document = json.loads(capsys.readouterr().out)
    resources = [r for s in document["Statement"] for r in s["Resource"]]
    assert "arn:aws:s3:::stage-bucket/cxr/cxrpipe-*/*" in resources
    assert "arn:aws:s3:::stage-bucket/cxr/logs/*" in resources


# ---------------------------------------------------------------- packaging commands


def test_env_commands_install_the_wheel_with_its_extras_then_pack(tmp_path):
    wheel = tmp_path / WHEEL
    venv, archive = tmp_path / "env", tmp_path / "env.tar.gz"
    build, pack = package.env_commands("python3.11", venv, wheel, archive, ("--index-url=https://mirror/simple",))
    assert build == [
        ["python3.11", "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir", "--index-url=https://mirror/simple",
         f"{wheel}[aws]"],
    ]
    assert pack == [sys.executable, "-m", "venv_pack", "--prefix", str(venv), "--output", str(archive),
                    "--force", "--quiet"]
    assert package.wheel_command("py", tmp_path, tmp_path / "dist", isolated=False) == [
        "py", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), "--no-build-isolation",
        str(tmp_path)]


def test_relinked_venv_runs_the_nodes_python3_11(tmp_path):
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    package.relink_python(venv, "/usr/")
    links = {name: os.readlink(venv / "bin" / name) for name in ("python", "python3", "python3.11")}
    assert links == {"python": "python3.11", "python3": "python3.11", "python3.11": "/usr/bin/python3.11"}
    cfg = dict(line.split(" = ", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if " = " in line)
    assert cfg["home"] == "/usr/bin" and cfg["executable"] == "/usr/bin/python3.11"
    assert cfg["include-system-site-packages"] == "false"


@pytest.mark.parametrize("facts, message", [
    ({"version": [3, 9], "system": "Linux", "machine": "x86_64"}, "3.11"),
    ({"version": [3, 11], "system": "Darwin", "machine": "arm64"}, "Darwin arm64"),
])
def test_an_environment_that_could_not_run_on_emr_is_refused(facts, message):
    with pytest.raises(UserError, match=message):
        package.check_interpreter(facts)
    package.check_interpreter({"version": [3, 11], "system": "Linux", "machine": "aarch64"})


def test_the_suite_venv_builds_wheels_itself_and_a_bare_python_does_not(tmp_path):
    assert package.builds_wheels_here(sys.executable)  # setuptools with bdist_wheel (or wheel): no isolation
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    assert not package.builds_wheels_here(str(bare / "bin" / "python"))  # no setuptools at all


def test_a_failed_command_reports_the_cause_pip_printed_above_its_last_lines():
    # pip's shape: the cause in the middle of the output, generic lines last.
    script = ("import sys; print('running dist_info'); print(\"error: invalid command 'bdist_wheel'\"); "
              "print('error: metadata-generation-failed', file=sys.stderr); "
              "print('hint: See above for details.', file=sys.stderr); sys.exit(1)")
    with pytest.raises(UserError) as exc:
        package._run([sys.executable, "-c", script], hint="install the emr extra")
    said = str(exc.value).split("failed (exit 1): ", 1)[1]
    assert said == "error: invalid command 'bdist_wheel'; install the emr extra"
    assert package.failure_lines("", "a\nb\nlast words\n") == ["a", "b", "last words"]


def test_failed_step_with_wait_is_a_failed_job():
    with pytest.raises(JobFailed, match="FAILED: Unknown Error"):
        commands._finish(submit.Outcome("FAILED", False, "Unknown Error."))


# ---------------------------------------------------------------- bootstrap, Docker images, docs

INSTALL = re.compile(r"python3\.11 -m pip install [^;\n]*")
DOCS = ROOT / "docs" / "emr.md"


def installs(path: Path) -> list[str]:
    return [line.strip() for line in INSTALL.findall(path.read_text())]


def test_bootstrap_installs_python_and_the_staged_wheel_as_documented(tmp_path):
    """bootstrap.sh run with stand-ins for dnf, aws and python3.11 that record their arguments."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for name in ("aws", "dnf", "python3.11"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        (bin_dir / name).chmod(0o755)
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_dir / "sudo").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    wheel_uri = f"s3://stage/cxr/cxrpipe-0.1.0/abc/{WHEEL}"
    subprocess.run(["bash", str(ROOT / "emr" / "bootstrap.sh"), wheel_uri], env=env, check=True)
    assert calls.read_text().splitlines() == [
        "python3.11 -m pip --version",
        f"aws s3 cp --only-show-errors {wheel_uri} /tmp/{WHEEL}",
        f"python3.11 -m pip install --no-cache-dir /tmp/{WHEEL}[{package.EXTRAS}]",
    ]
    calls.unlink()
    subprocess.run(["bash", str(ROOT / "emr" / "bootstrap.sh")], env=env, check=True)
    assert not calls.exists()  # python3.11 is there and no wheel was given: nothing to do


def test_images_and_bootstrap_install_the_way_the_docs_say():
    docs = DOCS.read_text()
    emr_image, trainer = ROOT / "docker" / "emr-serverless.Dockerfile", ROOT / "docker" / "trainer.Dockerfile"
    for path in (emr_image, trainer, ROOT / "emr" / "bootstrap.sh"):
        (line,) = installs(path)
        assert line in docs, f"{path.name}: {line}"
    assert installs(emr_image) == installs(ROOT / "emr" / "bootstrap.sh")
    assert installs(emr_image)[0].endswith(f'"${{wheel}}[{package.EXTRAS}]"')
    assert installs(trainer)[0].endswith('"${wheel}[train,aws]"')


def test_emr_image_is_built_on_the_clusters_release_and_runs_as_hadoop():
    text = (ROOT / "docker" / "emr-serverless.Dockerfile").read_text()
    release = re.search(r"^ARG EMR_RELEASE=(\S+)$", text, re.M).group(1)
    assert release == templates.load(ROOT, "emr/cluster.json")["ReleaseLabel"]
    assert re.search(r"^ARG BASE=public\.ecr\.aws/emr-serverless/spark/\$\{EMR_RELEASE\}:latest$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users == ["root", "hadoop:hadoop"]
    assert text.index("USER root") < text.index("pip install") < text.index("USER hadoop:hadoop")


@pytest.mark.parametrize("dockerfile", ["emr-serverless.Dockerfile", "trainer.Dockerfile"])
def test_docker_copies_only_what_the_packager_makes_and_the_context_keeps(dockerfile):
    import fnmatch

    sources = [line.split()[1] for line in (ROOT / "docker" / dockerfile).read_text().splitlines()
               if line.startswith("COPY ")]
    kept = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert sources == ["dist/cxrpipe-*.whl"]
    assert sources[0] in kept
    assert fnmatch.fnmatch(f"dist/{package.wheel_name(ROOT)}", sources[0])


RELEASE = re.compile(r"\bemr-\d+\.\d+\.\d+\b|\bEMR \d+\.\d+\.\d+\b")


def test_every_file_names_the_same_release_label():
    required = ["emr/cluster.json", "docker/emr-serverless.Dockerfile", "docs/emr.md"]
    others = [str(p.relative_to(ROOT)) for p in sorted([*ROOT.glob("emr/**/*"), *ROOT.glob("docker/*")]) if p.is_file()]
    named = {name: set(RELEASE.findall((ROOT / name).read_text())) for name in dict.fromkeys(required + others)}
    release = next(a for a in emr_subparsers()["submit"]._actions if a.dest == "release")
    named["cxrpipe emr submit --help"] = set(RELEASE.findall(release.help))
    assert {name: labels for name, labels in named.items() if labels - {requests.RELEASE_LABEL}} == {}
    assert [name for name in [*required, "cxrpipe emr submit --help"] if not named[name]] == []
    assert templates.load(ROOT, "emr/cluster.json")["ReleaseLabel"] == requests.RELEASE_LABEL


def test_every_file_the_docs_name_exists():
    named = set(re.findall(r"\b((?:emr|docker|jobs|benchmarks|tests)/[\w./-]+\.(?:json|sh|py|Dockerfile|md))", DOCS.read_text()))
    assert {"emr/cluster.json", "emr/bootstrap.sh", "docker/emr-serverless.Dockerfile",
            "benchmarks/run_throughput.py"} <= named
    assert [name for name in sorted(named) if not (ROOT / name).is_file()] == []


def test_the_emr_modules_import_neither_boto3_nor_pyspark():
    probe = ("import sys, cxrpipe.cli.emr, cxrpipe.emr.commands, cxrpipe.emr.requests, cxrpipe.emr.submit, "
             "cxrpipe.emr.stage, cxrpipe.emr.package, cxrpipe.emr.policy, cxrpipe.emr.envcheck; "
             "print(sorted(m for m in ('boto3', 'botocore', 'pyspark') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_job_policy_covers_the_files_read_beside_the_index():
    job = ["run", "--dataset", "mimic", "--index", "s3://mimic/2.0.0/mimic-cxr-2.0.0-metadata.csv.gz",
           "--images", "s3://mimic/2.0.0", "--output", "s3://out/mimic-299"]
    reads, _ = policy.job_locations(vars(build_parser().parse_args(job)))
    assert reads == ["s3://mimic/2.0.0", "s3://mimic/2.0.0/mimic-cxr-2.0.0-metadata.csv.gz",
                     "s3://mimic/2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz",
                     "s3://mimic/2.0.0/mimic-cxr-2.0.0-split.csv.gz"]
    negbio = job + ["--labels", "s3://mimic/2.0.0/mimic-cxr-2.0.0-negbio.csv.gz", "--resplit"]
    reads, _ = policy.job_locations(vars(build_parser().parse_args(negbio)))
    assert reads[2:] == ["s3://mimic/2.0.0/mimic-cxr-2.0.0-negbio.csv.gz"]
    chexpert = ["run", "--dataset", "chexpert", "--index", "s3://c/train.csv", "--valid-index",
                "s3://c/valid.csv", "--images", "s3://c", "--output", "s3://out/c"]
    reads, _ = policy.job_locations(vars(build_parser().parse_args(chexpert)))
    assert reads == ["s3://c", "s3://c/train.csv", "s3://c/valid.csv"]
