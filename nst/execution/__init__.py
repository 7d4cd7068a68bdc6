"""Where work executes: in this process (``local``) or on a Ray cluster, behind one interface.

A :class:`~nst.execution.base.Job` is work of some kind (the kinds live in :mod:`nst.jobs`);
an :class:`~nst.execution.base.Executor` takes a place in its fair queue for the caller, then
``start`` gives a :class:`~nst.execution.base.Run`: an iterator of the job's records with
``cancel()`` for Stop and ``notes`` for what the user should know.

- :mod:`nst.execution.base`: Job, Run, Executor, run_many, run_together; knows no job kind.
- :mod:`nst.execution.wire`: pictures, records and errors as plain data; the code's version.
- :mod:`nst.execution.local`: LocalExecutor, in this process with one VGG19 per device.
- :mod:`nst.execution.cluster`: RayExecutor, the only module that imports ``ray``, imported
  only by :func:`executor_for` with a cluster address.
"""

from __future__ import annotations

import os

from nst.errors import ClusterError
from nst.execution.base import Executor, Job, Place, Run, run_many, run_together
from nst.execution.local import LocalExecutor, local_extractor

CLUSTER_VARIABLE = "NST_CLUSTER"  # local (the default), auto, or the head's HOST:PORT
FALLBACK_VARIABLE = "NST_CLUSTER_FALLBACK"  # "local": serve here when no cluster worker is left

__all__ = [
    "CLUSTER_VARIABLE",
    "FALLBACK_VARIABLE",
    "ClusterError",
    "Executor",
    "Job",
    "LocalExecutor",
    "Place",
    "Run",
    "executor_for",
    "local_extractor",
    "run_many",
    "run_together",
]


def executor_for(address: str | None = None, *, fallback: str | None = None) -> Executor:
    """The executor an address names: ``local`` (or empty) here; ``auto`` or the head's
    ``HOST:PORT`` a Ray cluster (needs ``pip install -r requirements-cluster.txt``).

    ``address`` defaults to the ``NST_CLUSTER`` variable. When the cluster cannot be used
    and ``fallback`` (default: ``NST_CLUSTER_FALLBACK``) is ``local``, runs stay here.

    Raises:
        ClusterError: the cluster cannot be used and there is no local fallback.
    """
    address = (address if address is not None else os.environ.get(CLUSTER_VARIABLE, "")).strip()
    fallback = (fallback if fallback is not None else os.environ.get(FALLBACK_VARIABLE, "")).strip().lower()
    if address in ("", "local"):
        return LocalExecutor()
    try:
        from nst.execution.cluster import RayExecutor  # noqa: PLC0415  # ray is imported only for a cluster
    except ImportError as error:
        problem = ClusterError(
            f"a cluster address was given ({address}) but Ray is not installed: "
            f"pip install -r requirements-cluster.txt ({error})"
        )
    else:
        try:
            return RayExecutor(address, fallback_local=fallback == "local")
        except ClusterError as error:
            problem = error
    if fallback == "local":
        return LocalExecutor()
    raise problem
