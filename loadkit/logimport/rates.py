"""Visitor arrival rates: the everyday baseline and the shape of a spike, as a ``burst`` profile.

Visits are counted by their first request in :data:`BIN_S`-second bins (memory grows with the log's time
span, about 4 MB a month). **Baseline**: the median over the log's whole hours of visitors per second (a
typical hour; with less than three whole hours, the median over 10-minute windows). **Spike**: where the
30-second average rises to at least :data:`SPIKE_FACTOR` times the baseline (or the window the user names
with ``--spike FROM..TO``). Its shape is fitted by least squares with the same curve the ``burst`` profile
plays: the local baseline (the median of the half hour before it), a linear ramp, a hold at the peak and an
exponential decay toward the baseline. The fit gives the ramp (time to peak), the hold, the peak rate and
the decay half-life.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..traffic import LN2  # the decay curve runs use: fitting the same half-life

BIN_S = 10.0
SPIKE_FACTOR = 3.0
MIN_SPIKE_VISITORS = 30  # in the busiest 30 s: fewer is noise, not a spike

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Spike:
    """A fitted spike: times in seconds since the epoch, rates in visitors per second."""

    start: float  # when the ramp starts
    ramp: float
    hold: float
    peak: float
    half_life: float
    baseline: float  # the local baseline the spike rose from
    visitors: float  # visitors above the baseline during the spike (the burst's integral)
    given: bool  # the user named the window


@dataclass(frozen=True)
class Rates:
    """The everyday rate and the spike, if any."""

    baseline: float
    baseline_basis: str  # "whole hours" or "10-minute windows"
    busiest: float  # visitors/s in the busiest 30 s
    span_s: float
    spike: Spike | None


class Timeline:
    """Visits per bin."""

    def __init__(self) -> None:
        self.bins: Counter[int] = Counter()

    def add(self, t: float) -> None:
        self.bins[int(t // BIN_S)] += 1

    def series(self) -> tuple[float, Floats]:
        """(time of the first bin, visitors/s per bin)."""
        if not self.bins:
            return 0.0, np.zeros(0)
        first, last = min(self.bins), max(self.bins)
        counts = np.zeros(last - first + 1)
        for b, n in self.bins.items():
            counts[b - first] = n
        return first * BIN_S, counts / BIN_S


def _smooth(rates: Floats, width: int = 3) -> Floats:
    if len(rates) < width:
        return rates.copy()
    kernel = np.ones(width) / width
    return np.convolve(rates, kernel, mode="same")


def baseline(rates: Floats) -> tuple[float, str]:
    """The median visitors/s over whole hours (or 10-minute windows for a short log)."""
    per_hour = int(3600 / BIN_S)
    hours = len(rates) // per_hour
    if hours >= 3:
        return float(np.median(rates[:hours * per_hour].reshape(hours, per_hour).mean(axis=1))), "whole hours"
    per_window = int(600 / BIN_S)
    windows = max(1, len(rates) // per_window)
    if len(rates) < per_window:
        return float(np.median(rates)) if len(rates) else 0.0, "the whole log"
    return float(np.median(rates[:windows * per_window].reshape(windows, per_window).mean(axis=1))), \
        "10-minute windows"


def burst_curve(t: Floats, start: float, ramp: float, hold: float, half_life: float) -> Floats:
    """The burst's shape from 0 (baseline) to 1 (peak) at times ``t`` (seconds from the window's start)."""
    tau = t - start
    up = np.clip(tau / max(ramp, 1e-9), 0.0, 1.0)
    down = np.exp(-LN2 * np.clip(tau - ramp - hold, 0.0, None) / half_life)
    return np.where(tau < ramp + hold, up, down) * (tau >= 0)


def _shape(t: Floats, params: Floats) -> Floats:
    start, ramp, hold, log_h = params
    # each bin is the mean of the curve over it (five points), as the counts are
    offsets = (np.arange(5) + 0.5) / 5 * BIN_S
    curves = [burst_curve(t + o, start, max(ramp, 0.0), max(hold, 0.0), math.exp(log_h)) for o in offsets]
    return np.asarray(np.mean(curves, axis=0), dtype=np.float64)


def _cost(params: Floats, t: Floats, excess: Floats, weights: Floats) -> tuple[float, float]:
    """Weighted squared error of the best amplitude for a shape (the amplitude has a closed form), and that
    amplitude. Counts are Poisson: each bin is weighted by 1 / its expected count, so the busy bins' larger
    noise does not outweigh the decay's tail."""
    shape = _shape(t, params)
    ws = weights * shape
    denom = float(ws @ shape)
    if denom <= 0:
        return float((weights * excess) @ excess), 0.0
    amplitude = max(0.0, float(ws @ excess) / denom)
    residual = excess - amplitude * shape
    return float((weights * residual) @ residual), amplitude


def _nelder_mead(func: Callable[[Floats], float], x0: Floats, steps: Floats, iterations: int = 400) -> Floats:
    """A small Nelder-Mead minimiser (numpy only)."""
    simplex = [x0] + [x0 + np.eye(len(x0))[i] * steps[i] for i in range(len(x0))]
    values = [func(x) for x in simplex]
    for _ in range(iterations):
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        centroid = np.mean(simplex[:-1], axis=0)
        worst = simplex[-1]
        reflected = centroid + (centroid - worst)
        fr = func(reflected)
        if fr < values[0]:
            expanded = centroid + 2 * (centroid - worst)
            fe = func(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (worst - centroid)
            fc = func(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                best = simplex[0]
                simplex = [best + 0.5 * (x - best) for x in simplex]
                values = [func(x) for x in simplex]
        if abs(values[-1] - values[0]) <= 1e-10 * (abs(values[0]) + 1e-12):
            break
    return np.asarray(simplex[int(np.argmin(values))], dtype=np.float64)


def fit_spike(t0: float, rates: Floats, lo: int, hi: int, base: float, given: bool) -> Spike | None:
    """Fit the burst curve to bins ``lo..hi`` (indices) over the local baseline ``base``."""
    window = rates[lo:hi]
    if len(window) < 4:
        return None
    t: Floats = np.arange(len(window), dtype=np.float64) * BIN_S
    excess = window - base
    smooth = _smooth(window)
    top = int(np.argmax(smooth))
    peak_excess = max(float(smooth[top] - base), 1e-9)
    rising = np.nonzero(smooth[:top + 1] - base <= 0.1 * peak_excess)[0]
    start0 = float(rising[-1]) * BIN_S if len(rising) else 0.0
    after = np.nonzero(smooth[top:] - base <= 0.5 * peak_excess)[0]
    half0 = max(BIN_S, float(after[0]) * BIN_S if len(after) else (len(window) - top) * BIN_S / 3)

    weights = 1.0 / np.maximum(_smooth(window, 5) * BIN_S, 1.0)

    def cost(x: Floats) -> float:
        return _cost(x, t, excess, weights)[0]

    best: Floats | None = None
    best_cost = math.inf
    steps = np.array([BIN_S * 2, BIN_S * 2, BIN_S * 2, 0.3])
    for hold0 in (0.0, half0 / 2, half0):  # starts from a sharp peak to a long plateau
        x0 = np.array([start0, max(BIN_S, top * BIN_S - start0), hold0, math.log(half0)])
        for _ in range(3):  # restarts: a simplex can collapse early on noisy data
            x0 = _nelder_mead(cost, x0, steps)
        c = cost(x0)
        if c < best_cost:
            best, best_cost = x0, c
    assert best is not None
    _, amplitude = _cost(best, t, excess, weights)
    start, ramp, hold, log_h = best
    ramp, hold, half = max(float(ramp), 0.0), max(float(hold), 0.0), math.exp(float(log_h))
    peak = base + amplitude
    visitors = amplitude * (ramp / 2 + hold + half / LN2)
    return Spike(start=t0 + (lo * BIN_S) + float(start), ramp=ramp, hold=hold, peak=peak, half_life=half,
                 baseline=base, visitors=visitors, given=given)


def analyse(timeline: Timeline, window: tuple[float, float] | None = None) -> Rates:
    """Baseline and spike of a timeline; ``window`` (epoch seconds) names the spike instead of finding it."""
    t0, rates = timeline.series()
    if not len(rates):
        return Rates(0.0, "no visits", 0.0, 0.0, None)
    base, basis = baseline(rates)
    smooth = _smooth(rates)
    busiest = float(smooth.max())
    spike: Spike | None = None
    before = int(1800 / BIN_S)
    if window is not None:
        lo = max(0, int((window[0] - t0) // BIN_S))
        hi = min(len(rates), math.ceil((window[1] - t0) / BIN_S))
        local = float(np.median(rates[max(0, lo - before):lo])) if lo > 0 else base
        spike = fit_spike(t0, rates, lo, hi, local, given=True)
    elif busiest >= SPIKE_FACTOR * max(base, 1e-9) and busiest * 3 * BIN_S >= MIN_SPIKE_VISITORS:
        top = int(np.argmax(smooth))
        threshold = base + 0.05 * (busiest - base)
        lo = top
        while lo > 0 and smooth[lo - 1] > threshold:
            lo -= 1
        hi, quiet = top, 0
        while hi < len(rates) - 1 and quiet < 6:
            hi += 1
            quiet = quiet + 1 if smooth[hi] <= threshold else 0
        pad = 12
        lo, hi = max(0, lo - pad), min(len(rates), hi + pad)
        local = float(np.median(rates[max(0, lo - before):lo])) if lo >= 6 else base
        spike = fit_spike(t0, rates, lo, hi, local, given=False)
    return Rates(base, basis, busiest, len(rates) * BIN_S, spike)
