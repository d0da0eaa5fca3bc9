"""The cluster a multi-worker run belongs to, read from ``TF_CONFIG``. Pure: no TensorFlow.

``TF_CONFIG`` is the JSON TensorFlow's ``MultiWorkerMirroredStrategy`` reads: the cluster
(``{"worker": ["host:port", ...]}``, optionally with one ``"chief"``) and this process's task
(``{"type": "worker", "index": 0}``). It is checked here first so that a typo is a one-line
error naming the field, not a gRPC failure minutes later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ENV = "TF_CONFIG"
ROLES = ("chief", "worker")   # the task types that train; "ps" and "evaluator" do not here


@dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker run.

    Attributes:
        workers: processes that train (the chief counted).
        task_type: ``chief`` or ``worker``.
        index: this task's position in its type's list.
        chief: whether this process writes the model, the card, checkpoints and logs.
    """

    workers: int
    task_type: str
    index: int
    chief: bool


def parse(text: str | None) -> Cluster:
    """The ``Cluster`` a ``TF_CONFIG`` value describes.

    The chief is the ``chief`` task when the cluster has one, else worker 0 (TensorFlow's rule).

    Args:
        text: the environment variable's value, or None when it is not set.

    Raises:
        ValueError: not set, not JSON, or a cluster/task that is missing, of the wrong type,
            or out of range; the message names the field, what was expected and what came.
    """
    if not text:
        raise ValueError(f"{ENV} is not set: each worker needs the cluster and its own task, e.g. "
                         '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                         '"task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{ENV} is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{ENV}: expected a JSON object, got {type(config).__name__}")
    cluster, task = _cluster(config.get("cluster")), _task(config.get("task"))
    return _place(cluster, task)


def _cluster(cluster) -> dict[str, list]:
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f'{ENV}: "cluster" must map task types to lists of "host:port", got {cluster!r}')
    for role, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(_address(a) for a in addresses):
            raise ValueError(f'{ENV}: cluster "{role}" must be a list of "host:port", got {addresses!r}')
    if not any(cluster.get(role) for role in ROLES):
        raise ValueError(f'{ENV}: the cluster has no "worker" (or "chief") addresses: {sorted(cluster)}')
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(f'{ENV}: at most one "chief", got {len(cluster["chief"])}')
    return cluster


def _address(address) -> bool:
    host, _, port = str(address).rpartition(":") if isinstance(address, str) else ("", "", "")
    return bool(host) and port.isdigit()


def _task(task) -> tuple[str, int]:
    if not isinstance(task, dict):
        raise ValueError(f'{ENV}: "task" must be {{"type": "worker", "index": N}}, got {task!r}')
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in ROLES:
        raise ValueError(f'{ENV}: task "type" must be one of {", ".join(ROLES)}, got {kind!r}')
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f'{ENV}: task "index" must be an integer >= 0, got {index!r}')
    return kind, index


def _place(cluster: dict[str, list], task: tuple[str, int]) -> Cluster:
    kind, index = task
    members = cluster.get(kind, [])
    if index >= len(members):
        raise ValueError(f'{ENV}: task {kind} {index} is not in the cluster, which has '
                         f"{len(members)} {kind} address(es)")
    has_chief = bool(cluster.get("chief"))
    chief = kind == "chief" or (not has_chief and index == 0)
    workers = sum(len(cluster.get(role, [])) for role in ROLES)
    return Cluster(workers=workers, task_type=kind, index=index, chief=chief)
