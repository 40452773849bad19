"""A PNG picture of an analysis.

Band envelopes, sections, drops, beats and downbeats on one time axis.

matplotlib (Agg backend) is imported only when a picture is drawn.
"""

from __future__ import annotations

import io

import numpy as np

from .analysis import Analysis

SECTION_COLOURS = {
    "intro": "#90caf9",
    "verse": "#a5d6a7",
    "build": "#ffe082",
    "drop": "#ef9a9a",
    "breakdown": "#ce93d8",
    "outro": "#b0bec5",
}
BAND_COLOURS = (("bass", "#c62828"), ("mids", "#2e7d32"), ("highs", "#1565c0"))
_MAX_POINTS = 1500
_POOL_S = 1.0
_LANES = len(BAND_COLOURS)


def render_png(
    analysis: Analysis, *, title: str | None = None, width_in: float = 16.0, dpi: int = 100
) -> bytes:
    """The picture as PNG bytes.

    Parameters
    ----------
    analysis : Analysis
    title : str, optional
        Shown above the plot with tempo, meter and duration.
    width_in : float > 0
        Figure width in inches (height is 3/8 of it).
    dpi : int > 0
    """
    if width_in <= 0 or dpi <= 0:
        raise ValueError("width_in and dpi must be positive")
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, width_in * 3 / 8), dpi=dpi, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    _draw_sections(top, analysis)
    _draw_bands(top, analysis)
    _draw_drops(top, analysis)
    _draw_beats(bottom, analysis)
    bottom.xaxis.set_major_formatter(_mmss())
    bottom.set_xlim(0, analysis.duration_s)
    bottom.set_xlabel("time (m:ss)")
    fig.suptitle(_headline(analysis, title), fontsize=13)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _headline(a: Analysis, title: str | None) -> str:
    meter = f"{a.rhythm.beats_per_bar}/4" if a.rhythm.beats_per_bar else "meter ?"
    tempo = f"{a.rhythm.bpm:.1f} BPM" if a.rhythm.bpm > 0 else "no beat found"
    minutes, seconds = divmod(int(round(a.duration_s)), 60)
    parts = [title, tempo, meter, f"{minutes}:{seconds:02d}"]
    if a.warnings:
        parts.append("⚠ " + a.warnings[0].split(":")[0])
    return "  ·  ".join(p for p in parts if p)


def _draw_sections(ax, a: Analysis) -> None:
    for s in a.sections:
        ax.axvspan(
            s.start_s, s.end_s, color=SECTION_COLOURS.get(s.label, "#eeeeee"), alpha=0.45, lw=0
        )
        ax.text(
            (s.start_s + s.end_s) / 2,
            _LANES + 0.12,
            s.label,
            ha="center",
            va="center",
            fontsize=11,
            fontweight="bold",
            clip_on=True,
        )
        ax.axvline(s.start_s, color="#455a64", lw=0.8)


def _draw_bands(ax, a: Analysis) -> None:
    """One lane per band (bass at the bottom): the filled mean level and a line on its peaks."""
    f = a.features
    for lane, (name, colour) in enumerate(BAND_COLOURS):
        t, mean, peak = _pooled(np.asarray(getattr(f, name), dtype=np.float64), f.frame_rate_hz)
        ax.fill_between(t, lane, lane + 0.9 * mean, color=colour, alpha=0.55, lw=0)
        ax.plot(t, lane + 0.9 * peak, color=colour, lw=0.8)
    ax.set_ylim(0, _LANES + 0.3)
    ax.set_yticks([0.45 + lane for lane in range(_LANES)], [name for name, _ in BAND_COLOURS])


def _draw_drops(ax, a: Analysis) -> None:
    for t in np.asarray(a.drops_s).tolist():
        ax.axvline(t, color="#d500f9", lw=2.5, ls="--")
        ax.text(
            t,
            _LANES - 0.1,
            "DROP",
            color="white",
            fontsize=9,
            fontweight="bold",
            ha="center",
            va="top",
            bbox={"boxstyle": "round,pad=0.2", "fc": "#d500f9", "ec": "none"},
        )


def _draw_beats(ax, a: Analysis) -> None:
    r = a.rhythm
    ax.vlines(r.beat_times_s, 0.0, 0.45, color="#616161", lw=0.6, label="beats")
    ax.vlines(r.downbeat_times_s, 0.0, 1.0, color="#000000", lw=1.4, label="downbeats")
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("beats")
    if len(r.beat_times_s):
        ax.legend(loc="upper right", fontsize=8, ncols=2, framealpha=0.8)


def _pooled(values: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, mean and maximum of groups of about ``_POOL_S`` seconds (a legible contour)."""
    step = max(1, int(round(_POOL_S * rate_hz)), int(np.ceil(len(values) / _MAX_POINTS)))
    n = len(values) // step * step
    if step == 1 or n == 0:
        return np.arange(len(values)) / rate_hz, values, values
    groups = values[:n].reshape(-1, step)
    return (
        (np.arange(len(groups)) * step + step / 2) / rate_hz,
        groups.mean(axis=1),
        groups.max(axis=1),
    )


def _mmss():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _pos: f"{int(x // 60)}:{int(x % 60):02d}")
