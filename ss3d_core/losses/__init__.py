"""Self-supervised losses: photometric reprojection, auto-masking, smoothness, multi-scale view synthesis."""

from ss3d_core.losses.photometric import min_reprojection_with_automask, photometric_error
from ss3d_core.losses.smoothness import edge_aware_smoothness
from ss3d_core.losses.view_synthesis import ViewSynthesisTerms, view_synthesis_loss

__all__ = [
    "ViewSynthesisTerms",
    "edge_aware_smoothness",
    "min_reprojection_with_automask",
    "photometric_error",
    "view_synthesis_loss",
]
