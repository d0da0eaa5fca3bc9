"""`cxrpipe emr` against real parts: a real wheel and venv-pack archive, uploads to the S3 server
on 127.0.0.1, and EMR clients stubbed by botocore (which validates every request against EMR's
model) whose requests must point at exactly the objects that were uploaded."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from cxrpipe.cli import build_parser, main
from cxrpipe.emr import commands, package
from cxrpipe.emr.envcheck import check_archive_matches
from cxrpipe.emr.requests import RELEASE_LABEL
from cxrpipe.errors import JobFailed, UserError

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "cxr-emr-stage"
JOB = ["run", "--dataset", "nih", "--index", "s3://data/nih/Data_Entry_2017.csv", "--images", "s3://data/nih/images",
       "--output", "s3://out/nih-299", "--classes", "Effusion,No Finding"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A snapshot of the project: the wheel and the archive must come from the same sources."""
    root = tmp_path_factory.mktemp("checkout")
    for name in ("setup.py", "README.md"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("cxrpipe", "emr", "jobs"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def built(checkout, tmp_path_factory):
    """The project's real wheel, and a real venv-pack archive of a venv holding it.

    The venv gets the wheel without its dependencies (installing opencv, pyarrow, boto3 from
    PyPI takes minutes); the commands are otherwise those `cxrpipe emr package` runs. Its Python
    links to this machine's interpreter prefix, so the unpacked archive can be run here.
    """
    out = tmp_path_factory.mktemp("dist")
    wheel = package.build_wheel(checkout, out)
    archive = package.build_env(wheel, out, base_python=sys.executable, python_prefix=sys.base_prefix,
                                pip_options=("--no-deps",))
    return package.Package(wheel, archive)


@pytest.fixture(scope="module")
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    return BUCKET


def read(s3, uri: str) -> bytes:
    bucket, key = uri[len("s3://"):].split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def stubbed(service: str, operation: str):
    """A stubbed client and the list its ``operation`` requests are captured into."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.session.Session(region_name="us-east-1").client(service)
    captured: list[dict] = []
    event = f"provide-client-params.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, lambda params, **kw: captured.append(copy.deepcopy(params)))
    return client, Stubber(client), captured


def submit_args(checkout: Path, *extra: str, job=JOB, endpoint: str):
    return build_parser().parse_args(["emr", "submit", "--staging", f"s3://{BUCKET}/staging", "--project-dir",
                                      str(checkout), "--s3-endpoint", endpoint, *extra, "--", *job])


# ---------------------------------------------------------------- packaging


def test_wheel_holds_the_package_and_its_console_script(built):
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert built.wheel.name == "cxrpipe-0.1.0-py3-none-any.whl"
    assert {"cxrpipe/cli/__init__.py", "cxrpipe/cli/emr.py", "cxrpipe/emr/requests.py", "cxrpipe/storage.py"} <= set(names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "jobs/")) for n in names)
    assert "cxrpipe = cxrpipe.cli:main" in entry_points


def test_unpacked_archive_runs_the_project_as_yarn_runs_it(built, tmp_path):
    """YARN unpacks the archive as ./environment in the container's working folder."""
    container = tmp_path / "container"
    (container / "environment").mkdir(parents=True)
    with tarfile.open(built.archive) as tar:
        tar.extractall(container / "environment")
    python = container / "environment" / "bin" / "python"
    assert os.readlink(python) == "python3.11"
    assert os.readlink(python.parent / "python3.11") == sys.base_prefix.rstrip("/") + "/bin/python3.11"
    probe = "import cxrpipe, sys; print(cxrpipe.__file__); print(sys.prefix)"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    done = subprocess.run(["./environment/bin/python", "-c", probe], cwd=container, capture_output=True,
                          text=True, env=env, check=True)
    module, prefix = done.stdout.split()
    site = container / "environment" / "lib" / "python3.11" / "site-packages"
    assert Path(module) == site / "cxrpipe" / "__init__.py"
    assert Path(prefix) == container / "environment"


def test_an_archive_of_another_build_is_refused(built, checkout, tmp_path):
    check_archive_matches(built.archive, built.wheel)  # the same build: accepted
    copy_root = tmp_path / "changed"
    shutil.copytree(checkout, copy_root)
    with open(copy_root / "cxrpipe" / "summary.py", "a") as f:
        f.write("\n# changed after packing\n")
    other = package.build_wheel(copy_root, tmp_path / "dist")
    with pytest.raises(UserError, match="another build of cxrpipe"):
        check_archive_matches(built.archive, other)


# ---------------------------------------------------------------- submit to a running cluster


def test_submit_stages_the_artifacts_and_the_step_runs_them(built, checkout, bucket, s3, s3_endpoint, capsys):
    emr, stub, captured = stubbed("emr", "AddJobFlowSteps")
    stub.add_response("add_job_flow_steps", {"StepIds": ["s-1STEP"]})
    stub.add_response("describe_cluster", {"Cluster": {"Id": "j-1TEST", "LogUri": f"s3n://{BUCKET}/emr-logs/"}})
    for state in ("RUNNING", "COMPLETED"):
        stub.add_response("describe_step", {"Step": {"Id": "s-1STEP", "Status": {"State": state}}},
                          expected_params={"ClusterId": "j-1TEST", "StepId": "s-1STEP"})
    args = submit_args(checkout, "--cluster-id", "j-1TEST", "--env-archive", str(built.archive), "--wait",
                       "--poll-seconds", "5", endpoint=s3_endpoint)
    slept = []
    with stub:
        assert commands.run_submit(args, lambda service, region: emr, sleep=slept.append) == 0
    stub.assert_no_pending_responses()
    assert slept == [5]
    (request,) = captured
    assert request["JobFlowId"] == "j-1TEST"
    step_args = request["Steps"][0]["HadoopJarStep"]["Args"]
    archive_uri = step_args[step_args.index("--archives") + 1]
    assert archive_uri.endswith("/env.tar.gz#environment")
    assert read(s3, archive_uri.split("#")[0]) == built.archive.read_bytes()
    script = next(a for a in step_args if a.endswith(".py"))
    assert read(s3, script) == (checkout / "jobs" / "run.py").read_bytes()
    assert step_args[step_args.index(script) + 1:] == JOB[1:]
    out = capsys.readouterr().out
    assert "6 uploaded, 0 already there" in out
    assert f"s3://{BUCKET}/emr-logs/j-1TEST/steps/s-1STEP/" in out
    assert "COMPLETED" in out


def test_resubmitting_the_same_build_uploads_nothing(built, checkout, bucket, s3_endpoint, capsys):
    for _ in range(2):
        emr, stub, captured = stubbed("emr", "AddJobFlowSteps")
        stub.add_response("add_job_flow_steps", {"StepIds": ["s-2"]})
        stub.add_response("describe_cluster", {"Cluster": {"Id": "j-2"}})
        args = submit_args(checkout, "--cluster-id", "j-2", "--env-archive", str(built.archive), endpoint=s3_endpoint)
        with stub:
            assert commands.run_submit(args, lambda service, region: emr) == 0
    out = capsys.readouterr().out
    assert "0 uploaded, 6 already there" in out
    assert "the cluster has no LogUri" in out


def test_a_missing_staging_bucket_is_one_line_exit_2(s3_endpoint, capsys):
    code = main(["emr", "submit", "--staging", "s3://no-such-staging-bucket/x", "--s3-endpoint", s3_endpoint,
                 "--cluster-id", "j-1", "--no-archive", "--", *JOB])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "bucket 'no-such-staging-bucket' does not exist" in err


# ---------------------------------------------------------------- create a cluster


def test_create_installs_the_staged_wheel_at_bootstrap(built, checkout, bucket, s3, s3_endpoint):
    emr, stub, captured = stubbed("emr", "RunJobFlow")
    stub.add_response("run_job_flow", {"JobFlowId": "j-NEW"})
    stub.add_response("list_steps", {"Steps": [{"Id": "s-NEW"}]}, expected_params={"ClusterId": "j-NEW"})
    args = submit_args(checkout, "--create", "--no-archive", "--core-count", "2", endpoint=s3_endpoint)
    with stub:
        assert commands.run_submit(args, lambda service, region: emr) == 0
    (request,) = captured
    action = request["BootstrapActions"][0]["ScriptBootstrapAction"]
    assert read(s3, action["Path"]) == (checkout / "emr" / "bootstrap.sh").read_bytes()
    with zipfile.ZipFile(io.BytesIO(read(s3, action["Args"][0]))) as wheel:
        assert "cxrpipe/cli/__init__.py" in wheel.namelist()
    step = request["Steps"][0]
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert "--archives" not in step["HadoopJarStep"]["Args"]
    assert request["LogUri"] == f"s3://{BUCKET}/staging/logs/"
    assert request["Instances"]["InstanceGroups"][1]["InstanceCount"] == 2


# ---------------------------------------------------------------- EMR Serverless


def test_serverless_run_points_at_the_staged_script_and_archive(built, checkout, bucket, s3, s3_endpoint, capsys):
    client, stub, captured = stubbed("emr-serverless", "StartJobRun")
    stub.add_response("start_job_run", {"applicationId": "00app", "jobRunId": "00run",
                                        "arn": "arn:aws:emr-serverless:us-east-1:123456789012:/applications/00app/jobruns/00run"})
    stub.add_response("get_job_run", {"jobRun": {
        "applicationId": "00app", "jobRunId": "00run", "createdAt": 0, "updatedAt": 0,
        "arn": "arn:aws:emr-serverless:us-east-1:123456789012:/applications/00app/jobruns/00run",
        "createdBy": "arn:aws:iam::123456789012:user/me", "executionRole": "arn:aws:iam::123456789012:role/job",
        "state": "FAILED", "stateDetails": "Job failed, ExitCode: 2", "releaseLabel": RELEASE_LABEL,
        "jobDriver": {"sparkSubmit": {"entryPoint": "s3://x/run.py"}}}})
    args = submit_args(checkout, "--serverless-app", "00app", "--execution-role", "arn:aws:iam::123456789012:role/job",
                       "--env-archive", str(built.archive), "--wait", endpoint=s3_endpoint)
    with stub, pytest.raises(JobFailed, match="ExitCode: 2"):
        commands.run_submit(args, lambda service, region: client, token=lambda: "tok-1", sleep=lambda s: None)
    (request,) = captured
    driver = request["jobDriver"]["sparkSubmit"]
    assert read(s3, driver["entryPoint"]) == (checkout / "jobs" / "run.py").read_bytes()
    assert driver["entryPointArguments"] == JOB[1:]
    archive = next(p for p in driver["sparkSubmitParameters"].split() if p.startswith("spark.archives="))
    assert read(s3, archive.split("=", 1)[1].split("#")[0]) == built.archive.read_bytes()
    assert request["clientToken"] == "tok-1"
    assert "/applications/00app/jobs/00run/SPARK_DRIVER/" in capsys.readouterr().out


# ---------------------------------------------------------------- the output bucket's lifecycle rule


def test_lifecycle_rule_is_accepted_by_s3_and_aborts_incomplete_uploads(s3):
    s3.create_bucket(Bucket="cxr-emr-lifecycle")
    rule = json.loads((ROOT / "emr" / "lifecycle-abort-multipart.json").read_text())
    s3.put_bucket_lifecycle_configuration(Bucket="cxr-emr-lifecycle", LifecycleConfiguration=rule)
    (stored,) = s3.get_bucket_lifecycle_configuration(Bucket="cxr-emr-lifecycle")["Rules"]
    assert stored["Status"] == "Enabled"
    assert stored["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert stored["Filter"] == {"Prefix": ""}
