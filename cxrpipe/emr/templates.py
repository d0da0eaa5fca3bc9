"""The project's ``emr/`` templates: plain JSON that the AWS CLI could take, with ``${NAME}``
placeholders in some strings. Loading finds them; ``fill`` substitutes values, and nothing else."""

from __future__ import annotations

import json
import string
from pathlib import Path

from ..errors import UserError

# The files a submission needs from a checkout of the project.
REQUIRED = ("emr/cluster.json", "emr/configurations.json", "emr/serverless-job.json", "emr/bootstrap.sh",
            "emr/steps/run.json", "jobs/run.py", "setup.py")


def project_root(override: str | None = None) -> Path:
    """The checkout holding ``emr/``, ``jobs/`` and ``setup.py``.

    Args:
        override: ``--project-dir``; None means the checkout this package was imported from.

    Raises:
        UserError: the folder lacks one of the files (cxrpipe was installed from a wheel).
    """
    root = Path(override) if override else Path(__file__).resolve().parents[2]
    missing = [name for name in REQUIRED if not (root / name).is_file()]
    if missing:
        raise UserError(f"{root} is not a cxrpipe checkout (no {missing[0]}): `cxrpipe emr` packages the "
                        "project from its source; run it from a clone (pip install -e .) or pass --project-dir")
    return root


def load(root: Path, relative: str):
    """The parsed JSON template at ``root/relative``."""
    path = root / relative
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None


def fill(template, values: dict[str, str]):
    """A copy of ``template`` with every ``${NAME}`` in its strings replaced by ``values[NAME]``.

    Raises:
        ValueError: a placeholder has no value (the message names it).
    """
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, str):
        try:
            return string.Template(template).substitute(values)
        except KeyError as exc:
            raise ValueError(f"template placeholder ${{{exc.args[0]}}} has no value in {template!r}") from None
    return template
