"""The compare driver: two models' maps of the same photos, read and batched here, scored by `quality.fidelity`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from ..errors import ReciproCamError
from ..inference.explainer import Explainer
from ..photos import imaging
from ..quality.fidelity import Fidelity, compare


def compare_paths(
    a: Explainer,
    b: Explainer,
    images: Sequence[str | os.PathLike],
    *,
    on_result: Callable[[Fidelity], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> tuple[list[Fidelity], list[dict]]:
    """compare() over files, folders and globs, A's batch size at a time; unreadable photos are skipped and listed."""
    found, failed = [], []
    paths = imaging.collect_images([os.fspath(i) for i in images])
    for start in range(0, len(paths), a.batch_size):
        photos, sources = [], []
        for path in paths[start : start + a.batch_size]:
            try:
                photos.append(imaging.read_image(path))
                sources.append(str(path))
            except ReciproCamError as exc:
                failed.append({"image": str(path), "error": str(exc)})
                if on_skip:
                    on_skip(str(exc))
        for f in compare(a, b, photos, sources) if photos else []:
            found.append(f)
            if on_result:
                on_result(f)
    return found, failed
