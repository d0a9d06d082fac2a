"""The corpus stage of SS3D (GUIDE §1-2): clip manifest with shot segments, the multi-view-signal (MVS) proxy, MVS
filtering and curriculum sampling, and the on-disk training cache."""
