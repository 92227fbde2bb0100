"""Launchers of the services the local run, the tests and the cluster demo start: SeaweedFS, Tansu,
PostgreSQL and Redis (binaries sha256-pinned, bound to loopback or a namespace's address, stopped by PID)."""
