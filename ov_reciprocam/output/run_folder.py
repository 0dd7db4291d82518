"""The folder a run (explain, eval) writes into: never among its inputs, one run at a time, only this run's files.

The run's manifest (results.json, metrics.json) lists under `FILES` every file the run wrote; the next run into the
folder removes what the last one listed and it did not write again, and nothing else: a user's own files stay.
"""

from __future__ import annotations

import glob
import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from ..errors import ReciproCamError
from . import files

LOCK = ".ov-reciprocam.lock"
FILES = "files"  # the manifest's key: the run's files, relative to the folder


def check_run_folder(output: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> Path:
    """`output` can be written, lies outside every folder `inputs` (a list of files, folders, globs) reads from, and
    no running run holds it.

    Refused rather than skipping our own files when reading: a run stopped before its manifest was written leaves
    overlays no manifest names, and a folder read recursively would take them for photos the next time.
    """
    output = files.check_output_dir(output)
    where = output.resolve()
    for spec in inputs:
        if not isinstance(spec, (str, os.PathLike)):
            continue  # not a path: collecting the photos refuses it
        folder = _folder_read(os.fspath(spec))
        if folder is not None and (where == folder or folder in where.parents):
            relation = "is" if where == folder else "is inside"
            raise ReciproCamError(
                f"output folder {output} {relation} the input folder {spec}: the next run would read this run's "
                f"pictures as photos; give `output` a folder outside it"
            )
    # Said before the model is compiled; `claimed` takes the lock for real.
    if (output / LOCK).exists() and (holder := _holder(output / LOCK)):
        raise _held(output / LOCK, holder)
    return output


def _folder_read(spec: str) -> Path | None:
    """The folder an input reads recursively: a folder itself, a glob's folder before its first wildcard; a file
    reads none."""
    if Path(spec).is_dir():
        return Path(spec).resolve()
    if glob.has_magic(spec):
        fixed = []
        for part in Path(spec).parts:
            if glob.has_magic(part):
                break
            fixed.append(part)
        return Path(*fixed).resolve() if fixed else Path.cwd().resolve()
    return None


@contextmanager
def claimed(output: Path, manifest: str) -> Iterator[Path]:
    """Hold `output` for one run: refused while another run holds it; on success, the files the last run's
    `manifest` listed and this run's does not are removed."""
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    lock = output / LOCK
    _take(lock)
    try:
        before = listed(output, manifest)
        yield output
        for name in before - listed(output, manifest):
            if (output / name).is_file():
                (output / name).unlink()
    finally:
        lock.unlink(missing_ok=True)
        if created and not any(output.iterdir()):  # a run refused before its first file leaves no folder
            output.rmdir()


def _take(lock: Path) -> None:
    """Create `lock` or raise; a lock whose process on this machine has ended is taken over."""
    me = f"{os.getpid()} {socket.gethostname()}\n".encode()
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is None:  # its process is gone: a killed run's leftover
                lock.unlink(missing_ok=True)
                continue
            raise _held(lock, holder) from None
        except OSError as exc:
            raise ReciproCamError(f"cannot lock {lock.parent}: {exc.strerror}; give `output` another folder") from None
        with os.fdopen(fd, "wb") as f:
            f.write(me)
        return
    raise ReciproCamError(f"another run keeps taking {lock}; give `output` another folder")


def _held(lock: Path, holder: str) -> ReciproCamError:
    return ReciproCamError(
        f"another run ({holder}) is writing into {lock.parent}; wait for it or give `output` another folder (if no "
        f"run is going, delete {lock})"
    )


def _holder(lock: Path) -> str | None:
    """Who holds `lock` ("process 123 on host"), or None when that process has ended."""
    try:
        pid, host = lock.read_text().split()
        pid_number = int(pid)
    except (OSError, ValueError):
        return "a run"  # being written this instant, or not ours to judge: held
    if host != socket.gethostname():
        return f"process {pid} on {host}"  # another machine's process cannot be checked from here
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return f"process {pid}"


def listed(output: Path, manifest: str) -> set[str]:
    """The files `manifest` lists that lie in `output`; none for a manifest that is missing or not ours."""
    try:
        names = _files_entry(output / manifest)
    except (OSError, ValueError, AttributeError):
        return set()
    if not isinstance(names, list):
        return set()
    inside = output.resolve()

    @cache
    def folder_inside(folder: Path) -> bool:  # a run's files sit in a folder or two: each resolved once, not per file
        return folder.resolve().is_relative_to(inside)

    def is_inside(name: str) -> bool:
        path = output / name  # its folder resolved: "..", an absolute name, a symlinked folder
        return folder_inside(path.parent) and (not path.is_symlink() or path.resolve().parent.is_relative_to(inside))

    return {n for n in names if isinstance(n, str) and n not in (LOCK, manifest) and is_inside(n)}


def _files_entry(path: Path) -> object:
    """The manifest's `FILES` entry, read from the end of the file: it is the last as our runs write it, and the
    records before it, parsed, took 33 MB more at the end of a run of 4,000 photos. A manifest that does not end in
    it is parsed whole."""
    key = f'"{FILES}": '.encode()  # in a string, its quotes would be escaped
    with open(path, "rb") as f:
        end, size = f.seek(0, os.SEEK_END), 1 << 16
        while True:
            start = max(0, end - size)
            f.seek(start)
            tail = f.read()
            at = tail.rfind(key)
            if at >= 0 or start == 0:
                break
            size *= 4
    if at >= 0:
        text = tail[at + len(key) :].decode()
        value, stop = json.JSONDecoder().raw_decode(text)
        if text[stop:].strip() == "}":  # the last entry of the document itself, not of an object inside it
            return value
    return json.loads(Path(path).read_bytes()).get(FILES)


def existing(output: Path, names: Iterable[str]) -> Iterator[str]:
    """`names` that are files in `output`, in order, once each: what a manifest lists (`files.write_json` writes
    them as they come)."""
    seen: set[str] = set()
    for name in names:
        if name not in seen and (output / name).is_file():
            seen.add(name)
            yield name
