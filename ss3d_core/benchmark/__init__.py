"""Model-only latency of the inference backends (the node's end-to-end benchmark is in ``ss3d_ros.tools.bench``)."""
