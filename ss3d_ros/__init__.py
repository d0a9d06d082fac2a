"""ROS 2 wrapper of the SS3D estimator: conversions, parameters, QoS, diagnostics (no tensor math here)."""
