"""`cxrpipe emr policy`: every IAM document a first run needs, compared with the texts AWS documents.

The expected documents are written out here as AWS's pages give them (EMR service role, EMR
Serverless runtime role, custom image repository policy; docs/emr.md cites them), with this test's
account, region and application filled in; moto's IAM policy grammar checks their syntax.
"""

from __future__ import annotations

import json
import re

import pytest
from moto.iam.policy_validation import (BaseIAMPolicyValidator, IAMPolicyDocumentValidator,
                                        IAMTrustPolicyDocumentValidator)

from cxrpipe.cli import main
from cxrpipe.emr import iam, policy

ACCOUNT, REGION, APP = "123456789012", "eu-west-1", "00fabcd1234efg5h"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
JOB = ["run", "--dataset", "nih", "--index", "s3://data/nih/Data_Entry_2017.csv", "--images", "s3://data/nih/images",
       "--output", "s3://out/nih-299"]
# EMR Serverless API reference, Application.arn.
APPLICATION_ARN = re.compile(r"arn:(aws[a-zA-Z0-9-]*):emr-serverless:.+:(\d{12}):/applications/[0-9a-zA-Z]+")


def trust(service: str, condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


EXPECTED = {
    "ec2-instance-role-trust": trust("ec2.amazonaws.com"),
    "emr-service-role-trust": trust("elasticmapreduce.amazonaws.com", {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:elasticmapreduce:{REGION}:{ACCOUNT}:*"}}),
    "serverless-execution-role-trust": trust("emr-serverless.amazonaws.com"),
    "ecr-repository": {"Version": "2012-10-17", "Statement": [{
        "Sid": "EmrServerlessCustomImageSupport", "Effect": "Allow",
        "Principal": {"Service": "emr-serverless.amazonaws.com"},
        "Action": ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"],
        "Condition": {"StringEquals": {"aws:SourceArn": f"arn:aws:emr-serverless:{REGION}:{ACCOUNT}:/applications/{APP}"}}}]},
}


def printed(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["emr", "policy", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_document_is_the_documented_text(capsys, name):
    code, out, err = printed(capsys, "--document", name, "--account", ACCOUNT, "--region", REGION, "--serverless-app", APP)
    assert code == 0
    assert json.loads(out) == EXPECTED[name]
    assert err.startswith(f"# {name}: ")  # where it attaches, on stderr: stdout stays a file:// document


def test_the_documents_parse_in_iams_grammar():
    inputs = iam.Inputs(account=ACCOUNT, region=REGION, application=APP)
    for name in ("ec2-instance-role-trust", "emr-service-role-trust", "serverless-execution-role-trust"):
        IAMTrustPolicyDocumentValidator(json.dumps(iam.DOCUMENTS[name].build(inputs))).validate()
    # A repository policy names no Resource (the repository it is set on is the resource): syntax only.
    BaseIAMPolicyValidator(json.dumps(iam.DOCUMENTS["ecr-repository"].build(inputs))).validate()
    IAMPolicyDocumentValidator(json.dumps(policy.job_policy(["s3://d/i.csv"], ["s3://o/x"], kms_keys=(KEY,)))).validate()


def test_the_repository_policy_names_the_application_as_the_api_writes_its_arn():
    arn = iam.ecr_repository_policy(ACCOUNT, REGION, APP)["Statement"][0]["Condition"]["StringEquals"]["aws:SourceArn"]
    assert APPLICATION_ARN.fullmatch(arn) and arn.endswith(f"/applications/{APP}")


def test_with_kms_keys_the_job_role_may_use_them_through_s3_only():
    document = policy.job_policy(["s3://d/i.csv"], ["s3://o/x"],
                                 kms_keys=(KEY, "arn:aws:kms:us-east-1:123456789012:key/mrk-1"))
    assert document["Statement"][-1] == {
        "Sid": "UseBucketKeys", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": [KEY, "arn:aws:kms:us-east-1:123456789012:key/mrk-1"],
        "Condition": {"StringEquals": {"kms:ViaService": ["s3.eu-west-1.amazonaws.com", "s3.us-east-1.amazonaws.com"]}}}
    assert "kms:Decrypt" not in json.dumps(policy.job_policy(["s3://d/i.csv"], ["s3://o/x"]))


def test_the_default_output_is_still_the_job_roles_policy_alone(capsys):
    code, out, _ = printed(capsys, "--kms-key", KEY, "--", *JOB)
    document = json.loads(out)
    assert code == 0 and set(document) == {"Version", "Statement"}
    assert [s["Sid"] for s in document["Statement"]] == ["FindBuckets", "ReadInputs", "WriteOutputs",
                                                         "FindStaleUploads", "UseBucketKeys"]


def test_all_prints_every_document_it_can_write_and_says_what_the_rest_need(capsys, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # the region comes from the environment when not given
    code, out, err = printed(capsys, "--document", "all", "--account", ACCOUNT, "--", *JOB)
    written = json.loads(out)
    assert code == 0
    assert list(written) == ["job-role", "ec2-instance-role-trust", "emr-service-role-trust",
                             "serverless-execution-role-trust"]
    assert all(set(entry) == {"attach", "policy"} and entry["attach"] for entry in written.values())
    assert written["emr-service-role-trust"]["policy"] == EXPECTED["emr-service-role-trust"]
    assert err.strip() == "left out ecr-repository: it needs --serverless-app"
    code, out, err = printed(capsys, "--document", "all", "--region", REGION, "--account", ACCOUNT,
                             "--serverless-app", APP, "--", *JOB)
    assert list(json.loads(out)) == [*iam.DOCUMENTS] and err == ""


def test_a_document_without_what_it_needs_is_refused_naming_the_flags(capsys, monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = printed(capsys, "--document", "ecr-repository", "--account", ACCOUNT)
    assert code == 2 and out == ""
    assert "--document ecr-repository needs --region and --serverless-app" in err
    code, _, err = printed(capsys, "--document", "job-role")
    assert code == 2 and "-- COMMAND ARGS" in err


@pytest.mark.parametrize("flag, value, said", [
    ("--kms-key", "arn:aws:kms:eu-west-1:123456789012:alias/data", "not an alias"),
    ("--kms-key", "1234abcd-12ab-34cd-56ef-1234567890ab", "expected a KMS key ARN"),
    ("--account", "12345", "expected something like 123456789012"),
    ("--region", "Europe", "expected something like us-east-1"),
    ("--serverless-app", "App-1", "expected something like 00f"),
])
def test_values_aws_would_refuse_stop_at_parse_time(capsys, flag, value, said):
    with pytest.raises(SystemExit) as exited:
        main(["emr", "policy", flag, value, "--document", "ec2-instance-role-trust"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and said in err


def test_every_docker_build_the_docs_and_the_dockerfile_show_says_its_platform():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in (root / "docs" / "emr.md", root / "docker" / "emr-serverless.Dockerfile"):
        builds = re.findall(r"docker build[^\n]*", path.read_text())
        assert builds, path
        assert [b for b in builds if "--platform linux/" not in b] == [], path


def test_the_docs_walk_uses_documents_that_exist():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "emr.md").read_text()
    named = set(re.findall(r"--document ([\w-]+)", docs))
    assert {"ecr-repository", "serverless-execution-role-trust", "all"} <= named
    assert named <= {*iam.DOCUMENTS, "all", "NAME"}
