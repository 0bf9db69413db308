"""No partial output: files appear whole or not at all, folders are cleaned up on failure.

Writers that produce a file take a temporary path from :func:`atomic_file` and write there;
the file is moved onto its real name (``os.replace``, atomic within one folder) only when
the block succeeds, and removed otherwise. Commands that fill a folder wrap the work in
:func:`output_folder`: on failure the files it added are removed, and the folder itself
when the command created it.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> target = os.path.join(folder, "out.txt")
>>> with atomic_file(target) as temporary:
...     _ = open(temporary, "w").write("done")
>>> open(target).read(), sorted(os.listdir(folder))
('done', ['out.txt'])
>>> try:
...     with atomic_file(os.path.join(folder, "broken.txt")) as temporary:
...         _ = open(temporary, "w").write("half")
...         raise RuntimeError("writer failed")
... except RuntimeError:
...     pass
>>> sorted(os.listdir(folder))
['out.txt']
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

__all__ = ["atomic_file", "output_folder"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_parents(folder: str) -> str | None:
    """Create ``folder`` (and its parents) if missing; return the topmost folder created, or None."""
    folder = os.path.abspath(folder)
    missing = []
    while not os.path.isdir(folder):
        if os.path.exists(folder):
            raise NotADirectoryError(f"{folder!r} exists and is not a folder")
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not missing:
        return None
    os.makedirs(missing[0], exist_ok=True)
    return missing[-1]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path`` (same extension); move it onto ``path`` on success.

    Missing parent folders are created, and removed again when the block fails. The
    temporary file is removed on failure, so no partial file is ever left at ``path``.

    Raises
    ------
    OSError
        When the folder cannot be created or written (the caller's error handling reports it).
    """
    target = os.path.abspath(os.fspath(path))
    if os.path.isdir(target):
        raise IsADirectoryError(f"{os.fspath(path)!r} is a folder, not a file")
    folder, name = os.path.split(target)
    created = _make_parents(folder)
    stem, extension = os.path.splitext(name)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{extension}", dir=folder)
        os.close(handle)
    except BaseException:
        if created:
            shutil.rmtree(created, ignore_errors=True)
        raise
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())   # mkstemp makes it private; give it a normal file's mode
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if created:
            shutil.rmtree(created, ignore_errors=True)
        raise


@contextlib.contextmanager
def output_folder(path: str | os.PathLike) -> Iterator[str]:
    """Create ``path`` if needed and yield it; on failure remove what the block added.

    Entries present before the block are left alone (an overwritten file keeps its new
    content); new files and sub-folders are removed, and the folder itself (with any
    parents) when this call created it.
    """
    folder = os.path.abspath(os.fspath(path))
    created = _make_parents(folder)
    before = set(os.listdir(folder))
    try:
        yield os.fspath(path)
    except BaseException:
        if created:
            shutil.rmtree(created, ignore_errors=True)
        else:
            for entry in set(os.listdir(folder)) - before:
                full = os.path.join(folder, entry)
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(full)
        raise
