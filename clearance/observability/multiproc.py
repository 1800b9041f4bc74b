"""The Prometheus multi-process directory, emptied by whichever process starts a process group (the
gunicorn master, the Celery worker's main process) before its children count into it. Kept free of
imports so the gunicorn master loads nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path


def empty_directory(directory: str) -> None:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        elif child.suffix == ".db":
            child.unlink()
