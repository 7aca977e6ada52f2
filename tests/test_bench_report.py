"""The bench report judges each target from the measured figures only, and says when it cannot."""

from __future__ import annotations

from bench.report import targets


def _results(build_mb: float, pandas: dict) -> dict:
    step = {"runs": 1, "wall_s_min": 200.0, "wall_s_median": 200.0, "peak_rss_mb_max": build_mb}
    nightly = {"runs": 1, "wall_s_min": 25.0, "wall_s_median": 25.0, "peak_rss_mb_max": 3000.0,
               "outputs": [{"phases": {"models_s": 20.0}}]}
    landing = {"rows_per_s_median": 100_000, "peak_rss_mb_max": 1500.0}
    return {"landing": {"sentinel": landing, "defender": landing},
            "main": {"scale": {"events_per_day": 1_000_000}, "history_landing": {"peak_rss_mb_max": 2000.0},
                     "full_build": step, "new_day_landing": {"rows": 1_000_000, "peak_rss_mb": 900.0},
                     "nightly_build": nightly},
            "pandas": pandas}


def _verdict(results: dict, target: str) -> str:
    return dict(targets(results))[target]


def test_memory_is_judged_against_the_peak_at_which_the_pandas_reference_died():
    died = {"failed": "exit -6: std::bad_alloc", "wall_s_median": 17.0, "peak_rss_mb_max": 14_000.0}
    verdict = _verdict(_results(3_900.0, died), "full build ≤ ½ pandas peak memory")
    assert verdict.startswith("met: 3,900 MB, 0.28× the 14,000 MB at which the pandas reference died")
    # speed cannot be judged against a run that never finished
    assert _verdict(_results(3_900.0, died), "full build ≥ 5 × faster than pandas").startswith("NOT MEASURED")


def test_memory_above_half_of_a_dead_reference_is_not_judged():
    died = {"failed": "exit -6: std::bad_alloc", "wall_s_median": 3.0, "peak_rss_mb_max": 6_000.0}
    assert _verdict(_results(3_900.0, died), "full build ≤ ½ pandas peak memory").startswith("NOT MEASURED")


def test_a_finished_reference_is_compared_directly():
    finished = {"wall_s_median": 400.0, "peak_rss_mb_max": 7_000.0}
    results = _results(3_900.0, finished)
    assert _verdict(results, "full build ≤ ½ pandas peak memory") == "MISSED: 0.56× the pandas peak"
    assert _verdict(results, "full build ≥ 5 × faster than pandas") == "MISSED: 2.00× (wall, whole process)"
