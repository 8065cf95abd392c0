"""Synthetic blocks: plain transfers, token transfers, dependency chains."""

from parexec.workloads.synthetic import WORKLOADS, WorkloadError, build_workload, is_workload_spec, workload_blocks

__all__ = ["WORKLOADS", "WorkloadError", "build_workload", "is_workload_spec", "workload_blocks"]
