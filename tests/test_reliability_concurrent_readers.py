"""Three analyst processes query the published shards (all tenants, through connect_warehouse) in a loop while nights are published:
no errors on either side, every session sees one consistent version, reconnecting sees the new one."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from tests.reliability_support import NIGHT, quick_load, tiny_config

REPO = Path(__file__).resolve().parents[1]
NIGHTS = [NIGHT - timedelta(days=2), NIGHT - timedelta(days=1), NIGHT]


def test_three_readers_see_whole_versions_while_nights_publish(tmp_path):
    first = NIGHT - timedelta(days=4)
    settings = tiny_config(tmp_path, tenants=(("contoso", 7), ("fabrikam", 11)), scale=0.02, start=first)
    quick_load(settings, [first, first + timedelta(days=1)], NIGHT - timedelta(days=3), "base")
    outputs = [tmp_path / f"reader-{i}.json" for i in range(3)]
    stop = tmp_path / "writer-done"
    readers = [
        subprocess.Popen([sys.executable, "-m", "tests.reliability_support", settings.source_path, str(stop), str(out)],
                         cwd=REPO, stderr=subprocess.PIPE, text=True)
        for out in outputs
    ]
    try:
        for night in NIGHTS:  # the writer: three publishes while the readers loop
            quick_load(settings, [night - timedelta(days=1), night], night, f"night-{night}")
    finally:
        stop.touch()
    for proc in readers:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    versions_seen = set()
    for out in outputs:
        result = json.loads(out.read_text())
        assert result["errors"] == [], result["errors"][:5]
        assert len(result["sessions"]) >= 5
        per_session = [s["publishes"] for s in result["sessions"]]
        assert per_session == sorted(per_session), "a reconnect went back to an older version"
        versions_seen |= set(per_session)
    # 1 base + 3 nights published in each of the two shards; the readers saw versions before the last
    # publish and, after the writer stopped, the last one
    assert len(versions_seen) >= 2, versions_seen
    assert max(versions_seen) == 8, versions_seen
