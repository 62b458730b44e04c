"""The unrolled recurrent network as a picture: inputs x_t, hidden states h_t, outputs y_t.

    from rnnlab.report.diagram import unrolled_rnn
    unrolled_rnn(steps=4).savefig("unrolled_rnn.png", dpi=100)

Left: the network as it is written, one cell with a loop. Right: the same cell unrolled
over time, the loop becoming an arrow from h_{t-1} to h_t. The same weights (W_xh, W_hh,
W_hy) sit on every arrow of a kind, which is what makes the network recurrent.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

__all__ = ["unrolled_rnn"]

_COLORS = {"x": "#cfe2f3", "h": "#fde9c9", "y": "#d9ead3", "edge": "#333333"}


def _node(ax, xy: tuple[float, float], text: str, kind: str, size: float = 0.34) -> None:
    x, y = xy
    if kind == "h":
        box = FancyBboxPatch(
            (x - size, y - size),
            2 * size,
            2 * size,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            fc=_COLORS["h"],
            ec=_COLORS["edge"],
            lw=1.4,
        )
        ax.add_patch(box)
    else:
        ax.add_patch(Circle(xy, size * 0.85, fc=_COLORS[kind], ec=_COLORS["edge"], lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=13)


def _arrow(ax, start, end, label: str = "", label_offset=(0.0, 0.0), **kwargs) -> None:
    style = {"arrowstyle": "-|>", "mutation_scale": 14, "lw": 1.3, "color": _COLORS["edge"]}
    style.update(kwargs)
    ax.add_patch(FancyArrowPatch(start, end, shrinkA=0, shrinkB=0, **style))
    if label:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(
            mx + label_offset[0],
            my + label_offset[1],
            label,
            fontsize=9,
            color="#555555",
            ha="center",
            va="center",
        )


def unrolled_rnn(
    steps: int = 4, *, title: str = "A recurrent network, rolled and unrolled"
) -> Figure:
    """Draw the rolled cell and its unrolling over ``steps`` time steps; returns the Figure.

    ``steps`` of 1 to 6 fit; the last unrolled step is labelled ``T`` when there are more than
    three, so the picture stands for a window of any length.
    """
    if not 1 <= steps <= 6:
        raise ValueError(f"unrolled_rnn steps={steps}: use 1 to 6")
    dx, r = 1.6, 0.34
    y_x, y_h, y_y = 0.0, 1.5, 3.0
    width = 3.4 + dx * (steps + 0.6)
    # Equal aspect: the figure's shape follows the drawing's so no margin is wasted.
    fig = Figure(figsize=(0.92 * (width + 0.3) + 0.4, 4.3), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(-0.9, width - 0.6)
    ax.set_ylim(-0.8, 3.75)
    ax.set_aspect("equal")
    ax.axis("off")

    # Rolled form: one cell, its state fed back to itself.
    cx = 0.3
    _node(ax, (cx, y_x), "$x_t$", "x")
    _node(ax, (cx, y_h), "$h_t$", "h")
    _node(ax, (cx, y_y), "$y_t$", "y")
    _arrow(ax, (cx, y_x + r * 0.85), (cx, y_h - r), "$W_{xh}$", (-0.38, 0))
    _arrow(ax, (cx, y_h + r), (cx, y_y - r * 0.85), "$W_{hy}$", (-0.38, 0))
    _arrow(
        ax,
        (cx + r, y_h + 0.2),
        (cx + r, y_h - 0.2),
        "$W_{hh}$",
        (0.78, 0.0),
        connectionstyle="arc3,rad=-1.9",
    )
    ax.text(cx + 1.72, y_h, "=", fontsize=26, ha="center", va="center")

    # Unrolled form: h_0 on the left, then one column per step.
    x0 = cx + 2.75
    _node(ax, (x0, y_h), "$h_0$", "h", size=0.26)
    ax.text(x0, y_h - 0.55, "zeros", fontsize=8, ha="center", color="#555555")
    names = [str(i) for i in range(1, steps + 1)]
    if steps > 3:
        names[-1] = "T"
        names[-2] = "…"
    prev = (x0 + 0.26, y_h)
    for i, name in enumerate(names):
        cxi = x0 + dx * (i + 1)
        if name == "…":
            ax.text(cxi, y_h, "…", fontsize=22, ha="center", va="center")
            _arrow(ax, prev, (cxi - 0.3, y_h))
            prev = (cxi + 0.3, y_h)
            continue
        _node(ax, (cxi, y_x), f"$x_{{{name}}}$", "x")
        _node(ax, (cxi, y_h), f"$h_{{{name}}}$", "h")
        _node(ax, (cxi, y_y), f"$y_{{{name}}}$", "y")
        _arrow(ax, (cxi, y_x + r * 0.85), (cxi, y_h - r))
        _arrow(ax, (cxi, y_h + r), (cxi, y_y - r * 0.85))
        _arrow(ax, prev, (cxi - r, y_h), "$W_{hh}$" if i == 0 else "", (0.0, 0.2))
        prev = (cxi + r, y_h)
    last = x0 + dx * steps
    ax.text(last + 0.55, y_y, "forecast:\nthe last $y$", fontsize=9, va="center", color="#555555")
    ax.text(
        (x0 + last) / 2 + 0.3,
        -0.72,
        r"$h_t = \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)$,   $y_t = h_t W_{hy} + b_y$",
        fontsize=11,
        ha="center",
        va="center",
    )
    ax.set_title(title)
    return fig
