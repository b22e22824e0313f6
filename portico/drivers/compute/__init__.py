"""Compute drivers: where amphorae run (local processes, network namespaces, later VMs/pods)."""
