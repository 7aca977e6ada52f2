"""Paths to the recorded real samples in ../shared/data/real (never copied into the repo)."""

from pathlib import Path

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def real(relative: str) -> Path:
    path = REAL / relative
    if not path.exists():
        raise FileNotFoundError(f"real sample {path} is missing: tests expect ../shared/data/real beside the repo")
    return path
