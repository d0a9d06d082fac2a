"""Baselines scored in the same run on the same frames as the model (GUIDE §4): a constant depth, "no motion"
(identity pose), the classical five-point relative pose (calibrated K and a guessed K), the generic guessed K, and
COLMAP self-calibration."""
