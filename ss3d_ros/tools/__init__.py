"""Tooling around the node, not needed on a robot: ``ss3d_demo`` (:mod:`.demo`), ``ss3d_replay`` (:mod:`.replay`),
``ss3d_bench`` (:mod:`.bench`), and what they share: frame sources, the player, the node as a child process, the
output recorder, replay scoring against ground truth (with :mod:`ss3d_eval`'s metrics) and the report figures.

The node itself (:mod:`ss3d_ros.node`) never imports this package.
"""
