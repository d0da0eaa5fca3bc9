"""The shell around EMR: calls on clients it is handed (boto3 ``emr`` / ``emr-serverless``,
or a botocore Stubber in tests), waiting, and turning AWS's refusals into one-line errors."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import UserError

log = logging.getLogger(__name__)

STEP_DONE = {"COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"}
RUN_DONE = {"SUCCESS", "FAILED", "CANCELLED"}
# Error codes that mean the request or the caller is wrong, not the service.
USER_CODES = {"ValidationException", "InvalidRequestException", "AccessDeniedException", "AccessDenied",
              "ResourceNotFoundException", "UnrecognizedClientException", "InvalidClientTokenId",
              "ExpiredTokenException", "ConflictException"}


@dataclass(frozen=True)
class Outcome:
    """The final (or current) state of a step or job run, and what to say about it."""

    state: str
    succeeded: bool
    detail: str = ""


def call(client, method: str, **request) -> dict:
    """``client.method(**request)``, with credential and validation failures as ``UserError``."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    try:
        return getattr(client, method)(**request)
    except (NoCredentialsError, PartialCredentialsError):
        raise UserError("no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
                        "or run where an instance role applies") from None
    except ClientError as exc:  # botocore's per-service classes all derive from it
        error = exc.response.get("Error", {})
        if error.get("Code") in USER_CODES:
            raise UserError(f"{method} refused ({error['Code']}): {error.get('Message', '')}".rstrip(": ")) from None
        raise


def add_steps(emr, request: dict) -> list[str]:
    """Add steps to a running cluster; returns their ids."""
    return call(emr, "add_job_flow_steps", **request)["StepIds"]


def create_cluster(emr, request: dict) -> str:
    """Create a cluster (with its steps); returns its id."""
    return call(emr, "run_job_flow", **request)["JobFlowId"]


def step_ids(emr, cluster_id: str) -> list[str]:
    """The cluster's step ids, oldest first (EMR lists newest first)."""
    return [s["Id"] for s in reversed(call(emr, "list_steps", ClusterId=cluster_id)["Steps"])]


def log_uri(emr, cluster_id: str) -> str | None:
    """The cluster's LogUri, or None when it keeps logs only on its nodes."""
    return call(emr, "describe_cluster", ClusterId=cluster_id)["Cluster"].get("LogUri")


def step_outcome(emr, cluster_id: str, step_id: str) -> Outcome:
    status = call(emr, "describe_step", ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
    failure = status.get("FailureDetails") or {}
    detail = "; ".join(str(failure[k]) for k in ("Reason", "Message", "LogFile") if failure.get(k))
    return Outcome(status["State"], status["State"] == "COMPLETED", detail)


def job_run_outcome(serverless, application_id: str, job_run_id: str) -> Outcome:
    run = call(serverless, "get_job_run", applicationId=application_id, jobRunId=job_run_id)["jobRun"]
    return Outcome(run["state"], run["state"] == "SUCCESS", run.get("stateDetails", ""))


def start_job_run(serverless, request: dict) -> str:
    """Start an EMR Serverless job run; returns its id."""
    return call(serverless, "start_job_run", **request)["jobRunId"]


def wait(poll: Callable[[], Outcome], done: set[str], on_change: Callable[[Outcome], None],
         sleep: Callable[[float], None] = time.sleep, seconds: float = 30.0,
         max_polls: int | None = None) -> Outcome:
    """Poll until the state is one of ``done``; ``on_change`` hears each new state.

    Raises:
        TimeoutError: ``max_polls`` polls without reaching a final state.
    """
    last, polls = None, 0
    while True:
        outcome = poll()
        polls += 1
        if outcome.state != last:
            on_change(outcome)
            last = outcome.state
        if outcome.state in done:
            return outcome
        if max_polls is not None and polls >= max_polls:
            raise TimeoutError(f"still {outcome.state} after {polls} polls")
        sleep(seconds)
