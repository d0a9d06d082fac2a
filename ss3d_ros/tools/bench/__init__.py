"""``ss3d_bench``: model-only latency per backend and the node end to end over DDS, in one run."""
