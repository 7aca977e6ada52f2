"""A few SIGKILLs at random points of a night leave each tenant's shard its previous or its new
version, never a mix within a shard;
re-running converges to exactly the clean run. The 20-kill CLI version is bench/torture.py."""

from __future__ import annotations

from datetime import timedelta

from bench.torture import NIGHT, torture


def test_sigkill_mid_night_leaves_previous_or_new_version_and_rerun_matches_clean_run(tmp_path):
    summary = torture(tmp_path, trials=2, target="quick", scale=0.02, lookback=1,
                      first_day=NIGHT - timedelta(days=2), seed=8, progress=lambda _: None)
    assert summary.kills == 2, summary
    for trial in summary.results:
        assert trial.published_after_kill in ("previous", "new", "mixed"), trial
        assert trial.rerun_matches_clean, trial
        assert trial.leftover_build_files == 0, trial
    assert summary.mismatches == 0
