"""Two-view geometry, the one home for features and matches, relative pose, model selection and triangulation.

Used by the evaluator's five-point baseline, training's flow check and triangulated labels, and the corpus stage's
multi-view-signal proxy (``training.corpus.mvs``).
"""
