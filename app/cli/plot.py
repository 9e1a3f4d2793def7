"""Metric curves drawn to a PNG with matplotlib (imported only when a plot is asked for)."""

from pathlib import Path

from app.cli.render import ordered_series


def draw_curves(series: dict[str, list[dict]], path: Path, *, title: str) -> None:
    """One panel per metric (loss, accuracy, ...) with its train and val curves."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels: dict[str, list[str]] = {}
    for name in ordered_series(series):
        panels.setdefault(name.split("_", 1)[1] if "_" in name else name, []).append(name)
    columns = 2 if len(panels) > 1 else 1
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.2 * rows), squeeze=False)
    for ax, (metric, names) in zip(axes.flat, panels.items(), strict=False):
        for name in names:
            ax.plot(
                [p["epoch"] + 1 for p in series[name]],
                [p["value"] for p in series[name]],
                marker="o",
                label=name.split("_", 1)[0],
            )
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
