"""The measuring protocol's arithmetic (timing.py), on fake ONNX Runtime sessions whose run times are
scripted and a fake clock that only those runs advance: warm-up, runs per pass, interleaved groups,
fastest runs, medians and the noise figures, each expected value worked out by hand here."""

import math
import types

import numpy as np
import pytest

from mnetcost import timing


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Session:
    """A session whose k-th run takes durations[k] seconds of the clock."""

    def __init__(self, clock, durations):
        self.clock, self.durations, self.calls = clock, list(durations), 0

    def run(self, outputs, feed):
        assert outputs is None and feed == {"x": 0}
        self.clock.now += self.durations[self.calls]
        self.calls += 1


MS = 1e-3


def _script(scale=1.0):
    """3 warm-up runs of 0.1 s (3 runs and 0.3 s >= 0.2 s: warm-up ends); then 10 passes, each one
    untimed run (1 s, never counted) and two timed runs. Pass g and pass g + 5 make group g (of 5):
    pass g runs 10 + g and 30 ms, pass g + 5 runs 20 + g and 40 ms."""
    out = [0.1] * 3
    for p in range(10):
        g = p % 5
        timed = [10 + g, 30] if p < 5 else [20 + g, 40]
        out += [1.0] + [scale * t * MS for t in timed]
    return out


def test_groups_fastest_runs_medians_and_noise_by_hand():
    clock = Clock()
    a, b = Session(clock, _script()), Session(clock, _script(2.0))
    ta, tb = timing.time_sessions([(a, {"x": 0}), (b, {"x": 0})], repeat=2, passes=10, seed=1, clock=clock)
    assert a.calls == b.calls == 3 + 10 * 3  # every scripted run used, in each session's own order
    # group fastest runs: 10, 11, 12, 13, 14 ms -> latency = their median, 12 ms; their standard
    # deviation sqrt(((-2)^2 + 1 + 0 + 1 + 2^2) / 5) = sqrt(2) ms -> 100 sqrt(2) / 12 %
    assert ta.latency_s == pytest.approx(12 * MS, rel=1e-9)
    assert ta.pass_sd_pct == pytest.approx(100 * math.sqrt(2) / 12, rel=1e-9)
    # all 20 timed runs sorted: 10..14, 20..24, 30 x 5, 40 x 5 -> median (24 + 30) / 2 = 27 ms;
    # quartiles (linear, positions 4.75 and 14.25): 14 + 0.75 x 6 = 18.5 and 30 + 0.25 x 10 = 32.5 ms
    assert ta.median_s == pytest.approx(27 * MS, rel=1e-9)
    assert ta.iqr_pct == pytest.approx(100 * (32.5 - 18.5) / 27, rel=1e-9)
    assert ta.runs == tb.runs == 2
    # the second session runs everything twice as long: same relative figures
    assert tb.latency_s == pytest.approx(24 * MS, rel=1e-9) and tb.median_s == pytest.approx(54 * MS, rel=1e-9)
    assert tb.pass_sd_pct == pytest.approx(ta.pass_sd_pct, rel=1e-9) and tb.iqr_pct == pytest.approx(ta.iqr_pct)


def test_an_interference_burst_moves_the_median_not_the_latency():
    """Runs of passes 0-3 slowed threefold (a burst): the group fastest runs come from the other pass of
    each group, so the latency holds while the median of all runs moves."""
    clock = Clock()
    durations = [0.1] * 3
    for p in range(10):
        burst = 3 if p < 4 else 1
        durations += [1.0, burst * 10 * MS, burst * 10 * MS]
    (t,) = timing.time_sessions([(Session(clock, durations), {"x": 0})], repeat=2, passes=10, clock=clock)
    # groups 0-3 have one clean pass each (passes 5-8), group 4 two (4 and 9): every fastest run 10 ms
    assert t.latency_s == pytest.approx(10 * MS) and t.pass_sd_pct == pytest.approx(0, abs=1e-9)
    # 8 of 20 runs at 30 ms: sorted 10 x 12, 30 x 8 -> median 10 ms, upper quartile (position 14.25) 30 ms
    assert t.median_s == pytest.approx(10 * MS) and t.iqr_pct == pytest.approx(100 * 20 / 10)


@pytest.mark.parametrize("run_s, warm_ups, runs", [(1 / 64, 13, 2), (1.0, 3, 1), (1 / 4096, 820, 100)])
def test_warm_up_and_runs_per_pass_by_hand(run_s, warm_ups, runs):
    """Warm-up: until 3 runs and 0.2 s (1/64 s runs: 13 runs, 0.203 s); runs per pass: as many as fit
    in 40 ms, 1 to 100 (0.04 x 64 = 2.56 -> 2; a 1 s run -> 1; 0.04 x 4096 = 163.8 -> 100)."""
    clock = Clock()
    s = Session(clock, [run_s] * (warm_ups + 3 * (1 + runs)))
    (t,) = timing.time_sessions([(s, {"x": 0})], passes=3, clock=clock)
    assert t.runs == runs and s.calls == warm_ups + 3 * (1 + runs)
    assert t.latency_s == pytest.approx(run_s, rel=1e-6) and t.pass_sd_pct == pytest.approx(0, abs=1e-6)


def test_fewer_passes_than_groups_make_one_group_each():
    clock = Clock()
    durations = [0.1] * 3 + [1.0, 5 * MS] + [1.0, 7 * MS] + [1.0, 9 * MS]
    (t,) = timing.time_sessions([(Session(clock, durations), {"x": 0})], repeat=1, passes=3, clock=clock)
    # 3 groups of one pass: latency median(5, 7, 9) = 7 ms; sd sqrt((4 + 0 + 4) / 3) ms
    assert t.latency_s == pytest.approx(7 * MS)
    assert t.pass_sd_pct == pytest.approx(100 * math.sqrt(8 / 3) / 7)


def test_measure_reports_the_protocol_in_milliseconds(monkeypatch):
    """measure() itself, with the runtime and the exporter replaced by the fake session and clock."""
    clock = Clock()
    fake_ort = types.SimpleNamespace(__version__="0.0-fake")
    monkeypatch.setattr(timing, "_imports", lambda: (None, fake_ort))
    monkeypatch.setattr(timing, "_session", lambda ort, c, threads, say: (Session(clock, _script()), {"x": 0}))
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=clock))
    (m,) = timing.measure([dict(model="v2", alpha=1.0, resolution=224, convention="paper")], repeat=2, passes=10)
    assert m.latency_ms == pytest.approx(12) and m.median_ms == pytest.approx(27)
    assert m.pass_sd_pct == pytest.approx(100 * math.sqrt(2) / 12) and m.iqr_pct == pytest.approx(100 * 14 / 27)
    assert (m.runs, m.passes, m.threads, m.runtime) == (2, 10, 1, "onnxruntime 0.0-fake")
    assert np.isfinite(m.latency_ms)
