"""Writing a finished matplotlib figure to disk (shared by the evaluation, demo and replay reports)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["save_figure"]


def save_figure(fig, path: Path, dpi: float | None = None) -> Path:
    """Lay out ``fig``, save it to ``path`` (parent folders created) and close it.

    Args:
        fig: a ``matplotlib.figure.Figure`` made through ``pyplot``.
        path: output file; the format follows its suffix (``.png`` here).
        dpi: resolution in dots per inch; ``None`` keeps the figure's own.

    Returns:
        ``path``.
    """
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi if dpi is not None else "figure")
    plt.close(fig)
    return path
