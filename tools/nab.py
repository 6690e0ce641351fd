"""The Numenta Anomaly Benchmark scorer (pure), after NAB's sweeper.

For each series: the first ``min(floor(0.15 n), 750)`` rows are probationary
(not scored). A row inside an anomaly window (width ``W`` rows, right edge row
``R``) that is a detection scores ``scaled(-(R - i + 1) / W) * tp / scaled(-1)``;
only the best (earliest) detection of a window counts; a window without one
scores ``-fn``. A detection outside every window scores ``-fp`` before the
first window, else ``scaled(|R_prev - i| / (W_prev - 1)) * fp``. The corpus
score is normalised: ``100 * (S - S_null) / (S_perfect - S_null)``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROFILES: dict[str, tuple[float, float, float]] = {  # tp, fn, fp weights
    "standard": (1.0, 1.0, 0.11),
    "reward_low_FP_rate": (1.0, 1.0, 0.22),
    "reward_low_FN_rate": (1.0, 2.0, 0.11),
}


def scaled_sigmoid(y: float) -> float:
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation(n: int) -> int:
    return min(math.floor(0.15 * n), 750)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    timestamps: list[str]
    values: list[float]
    windows: list[tuple[int, int]]  # (left row, right row), inclusive


@dataclass(frozen=True, slots=True)
class Point:
    score: float  # detector's anomaly score for the row
    series: int
    window: int | None  # global window number, or None outside windows
    tp_part: float  # scaled(...) / scaled(-1) inside a window (times tp weight later)
    fp_part: float  # scaled(...) outside a window (times fp weight later); -1 before the first window


def _norm_ts(t: str) -> str:
    return t[:19]


def load_corpus(root: Path) -> list[Series]:
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    out = []
    for name in sorted(labels):
        ts: list[str] = []
        vals: list[float] = []
        with (root / "data" / name).open() as f:
            for row in csv.DictReader(f):
                ts.append(_norm_ts(row["timestamp"]))
                vals.append(float(row["value"]))
        index = {t: i for i, t in enumerate(ts)}
        windows = [(index[_norm_ts(a)], index[_norm_ts(b)]) for a, b in labels[name]]
        out.append(Series(name, ts, vals, windows))
    return out


def points(corpus: Sequence[Series], scores: Sequence[Sequence[float]]) -> tuple[list[Point], int]:
    """Every scorable row with its sweep weights; and the number of windows."""
    max_tp = scaled_sigmoid(-1.0)
    out: list[Point] = []
    n_windows = 0
    for si, (s, sc) in enumerate(zip(corpus, scores, strict=True)):
        if len(sc) != len(s.values):
            raise ValueError(f"{s.name}: {len(sc)} scores for {len(s.values)} rows")
        prob = probation(len(s.values))
        win_of: dict[int, tuple[int, int, int]] = {}
        for wi, (left, right) in enumerate(s.windows):
            for i in range(left, right + 1):
                win_of[i] = (n_windows + wi, left, right)
        prev_right: int | None = None
        prev_width = 0.0
        for i, score in enumerate(sc):
            w = win_of.get(i)
            if w is not None:
                gid, left, right = w
                width = right - left + 1
                tp_part = scaled_sigmoid(-(right - i + 1) / width) / max_tp
                fp_part = 0.0
            else:
                gid = None
                tp_part = 0.0
                fp_part = (
                    -1.0 if prev_right is None else scaled_sigmoid(abs(prev_right - i) / (prev_width - 1))
                )
            if i >= prob:
                out.append(Point(score, si, gid, tp_part, fp_part))
            if w is not None and i == w[2]:
                prev_right, prev_width = w[2], float(w[2] - w[1] + 1)
        n_windows += len(s.windows)
    return out, n_windows


def _normalise(raw: float, n_windows: int, tp: float, fn: float) -> float:
    perfect, null = n_windows * tp, -n_windows * fn
    return 100.0 * (raw - null) / (perfect - null)


def score_at(pts: Iterable[Point], n_windows: int, threshold: float, profile: str) -> float:
    tp, fn, fp = PROFILES[profile]
    best: dict[int, float] = {}
    raw = 0.0
    for p in pts:
        if p.score < threshold:
            continue
        if p.window is None:
            raw += p.fp_part * fp
        else:
            best[p.window] = max(best.get(p.window, -math.inf), p.tp_part * tp)
    raw += sum(best.values()) - (n_windows - len(best)) * fn
    return _normalise(raw, n_windows, tp, fn)


def counts_at(pts: Iterable[Point], threshold: float) -> tuple[int, int]:
    """At ``threshold``: how many windows have a detection, and how many detections fall outside every window."""
    hit: set[int] = set()
    false_alarms = 0
    for p in pts:
        if p.score < threshold:
            continue
        if p.window is None:
            false_alarms += 1
        else:
            hit.add(p.window)
    return len(hit), false_alarms


def sweep(pts: list[Point], n_windows: int, profile: str) -> tuple[float, float]:
    """The best normalised score over every threshold, and that threshold."""
    tp, fn, fp = PROFILES[profile]
    ordered = sorted(pts, key=lambda p: p.score, reverse=True)
    raw = -n_windows * fn
    best: dict[int, float] = {}
    top_score, top_threshold = _normalise(raw, n_windows, tp, fn), math.inf
    i = 0
    while i < len(ordered):
        threshold = ordered[i].score
        while i < len(ordered) and ordered[i].score == threshold:
            p = ordered[i]
            if p.window is None:
                raw += p.fp_part * fp
            else:
                v = p.tp_part * tp
                if p.window not in best:
                    raw += v + fn
                    best[p.window] = v
                elif v > best[p.window]:
                    raw += v - best[p.window]
                    best[p.window] = v
            i += 1
        s = _normalise(raw, n_windows, tp, fn)
        if s > top_score:
            top_score, top_threshold = s, threshold
    return top_score, top_threshold


def published_scores(root: Path, detector: str, corpus: Sequence[Series]) -> list[list[float]]:
    """A published detector's per-row anomaly scores (``results/<detector>/<category>/<detector>_<name>``)."""
    out = []
    for s in corpus:
        category, fname = s.name.split("/")
        path = root / "results" / detector / category / f"{detector}_{fname}"
        with path.open() as f:
            out.append([float(r["anomaly_score"]) for r in csv.DictReader(f)])
    return out
