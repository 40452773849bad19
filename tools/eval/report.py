"""Tables of the evaluation figures: per song class and overall, ours vs plain librosa."""

from __future__ import annotations

import numpy as np

METRICS = ("f", "cemgil", "cmlt", "amlt", "downbeat_f", "tempo_ok")
HEADERS = {
    "f": "beat F",
    "cemgil": "Cemgil",
    "cmlt": "CMLt",
    "amlt": "AMLt",
    "downbeat_f": "downbeat F",
    "tempo_ok": "tempo ±4%",
}


def _mean(rows: list[dict], engine: str, metric: str) -> float | None:
    """Mean of ``metric`` over the rows that have it (None where an item or engine has none)."""
    values = [r[engine][metric] for r in rows if engine in r and r[engine][metric] is not None]
    return float(np.mean(values)) if values else None


def aggregate(
    rows: list[dict], *, metrics: tuple[str, ...] = METRICS, group_key: str = "class"
) -> dict[str, dict[str, dict[str, float | None]]]:
    """{group: {engine: {metric: mean, 'n': items}}} for every ``group_key`` and 'overall'."""
    groups = {"overall": rows}
    for r in rows:
        groups.setdefault(r[group_key], []).append(r)
    engines = [e for e in ("ours", "librosa") if any(e in r for r in rows)]
    return {
        g: {e: {m: _mean(rs, e, m) for m in metrics} | {"n": len(rs)} for e in engines}
        for g, rs in groups.items()
    }


def fmt(v: float | None) -> str:
    """A figure with two decimals, ``n/a`` for none."""
    return " n/a" if v is None else f"{v:.2f}"


def _at_least(value: float | None, floor: float | None, *, slack: float = 0.0) -> bool:
    """``value >= floor - slack``; False when either figure is missing."""
    return value is not None and floor is not None and value >= floor - slack


def _cell(ours: float | None, theirs: float | None) -> str:
    return f"{fmt(ours)} / {fmt(theirs)}"


def _print_song_lines(rows: list[dict]) -> None:
    for r in rows:
        o, lb = r["ours"], r.get("librosa", {})
        print(
            f"  {r['song']:<22} ref {r['ref_bpm']:6.1f}  ours F {o['f']:.2f} bpm {o['bpm']:6.1f}"
            f" off {o['offset_ms']:+5.1f}ms db {o['downbeat_f']:.2f} m{o['meter']}"
            f" | librosa F {lb.get('f', float('nan')):.2f} bpm {lb.get('bpm', float('nan')):6.1f}"
            f" off {lb.get('offset_ms', float('nan')):+5.1f}ms"
        )


def print_report(rows: list[dict], *, verbose: bool, targets: dict[str, float]) -> dict:
    """Print the tables (ours / librosa in each cell) and return the summary figures."""
    if verbose:
        _print_song_lines(rows)
    agg = aggregate(rows)
    print(f"{'class':<13}{'n':>3}  " + "  ".join(f"{HEADERS[m]:^13}" for m in METRICS))
    for group, by_engine in agg.items():
        ours, lib = by_engine["ours"], by_engine.get("librosa", {})
        cells = "  ".join(f"{_cell(ours[m], lib.get(m)):^13}" for m in METRICS)
        print(f"{group:<13}{ours['n']:>3}  {cells}")
    print("cells: ours / plain librosa.beat.beat_track (librosa has no downbeats: n/a)")
    overall = agg["overall"]["ours"]
    met: dict[str, bool | None] = {m: _at_least(overall[m], t) for m, t in targets.items()}
    lib_classes = {g: v for g, v in agg.items() if "librosa" in v}
    met["never_below_librosa"] = (
        all(_at_least(v["ours"]["f"], v["librosa"]["f"], slack=1e-9) for v in lib_classes.values())
        if lib_classes
        else None
    )
    print("targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in met.items()))
    return {"figures": agg, "targets_met": met}
