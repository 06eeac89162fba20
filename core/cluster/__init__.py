"""Cluster state (the realtime kit): the interface and its contract in `state.py`, the
in-process implementation in `local.py`, the Redis one in `redis_cluster.py`."""
