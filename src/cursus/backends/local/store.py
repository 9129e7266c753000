"""Content-addressed artifact store on the local disk.

An output folder is committed under `objects/<digest>/`, where the digest covers every file's
relative path and bytes. Files are made read-only once committed, so a step that writes into its
input cannot silently change a stored artifact. A manifest of sizes, mtimes and ctimes beside each
object makes the everyday check cheap; a mismatch triggers a full re-hash. (Bytes that rot on disk
without any write are only caught by `verify(full=True)`.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file())


def tree_digest(root: Path) -> str:
    """Digest of a folder (or one file): relative paths, sizes and contents, in sorted order."""
    h = hashlib.sha256()
    for path in _files(root):
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        h.update(f"{rel}\0{path.stat().st_size}\0{file_sha256(path)}\n".encode())
    return h.hexdigest()


def _manifest(root: Path) -> dict[str, list[int]]:
    """Size, mtime and ctime of each file: a write changes them, and unlike the mtime, which
    `cp -p`, rsync or `touch -r` put back, the ctime cannot be set back by anyone."""
    if root.is_file():
        st = root.stat()
        return {root.name: [st.st_size, st.st_mtime_ns, st.st_ctime_ns]}
    found: dict[str, list[int]] = {}
    _scan(str(root), "", found)  # os.scandir: each verify of a cached run's inputs runs this
    return found


def _scan(folder: str, prefix: str, found: dict[str, list[int]]) -> None:
    """The files below `folder` as `_files` sees them (links followed), into `found`."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                _scan(entry.path, f"{prefix}{entry.name}/", found)
            elif entry.is_file():
                st = entry.stat()
                found[prefix + entry.name] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class ArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def is_digest(digest: object) -> bool:
        """What the store names its objects by: 64 lowercase hex digits."""
        return (
            isinstance(digest, str)
            and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)
        )

    def path(self, digest: str) -> Path:
        if not self.is_digest(digest):
            raise ValueError(f"not an artifact digest: {digest!r}")
        return self.objects / digest

    def commit(self, folder: Path) -> str:
        """Move `folder` into the store; returns its digest. Safe when several steps or runs
        commit the same content at once: the check, the replacement of a damaged copy and the
        move are done under a lock per digest (two steps of one run often make the same
        artifact, such as the schema of two splits of one table)."""
        digest = tree_digest(folder)
        with self._locked(digest):
            return self._commit(folder, digest)

    @contextlib.contextmanager
    def _locked(self, digest: str) -> Iterator[None]:
        # 256 lock files, by the digest's first byte; the kernel drops a killed holder's lock
        with open(self.objects / f".lock-{digest[:2]}", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _commit(self, folder: Path, digest: str) -> str:
        target = self.path(digest)
        if target.exists() and self.verify(digest):
            _remove(folder)
            return digest
        if target.exists():  # a corrupt copy: replace it (this commit holds the lock)
            self._discard(digest)
        for path in _files(folder):
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        try:
            os.rename(folder, target)
        except OSError:
            if not (target.exists() and self.verify(digest)):
                raise
            _remove(folder)  # another run committed the same content first
            return digest
        self._write_manifest(digest)
        return digest

    def _write_manifest(self, digest: str) -> None:
        tmp = self.objects / f".{digest}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(_manifest(self.path(digest))))
        os.replace(tmp, self.objects / f"{digest}.manifest.json")

    def verify(self, digest: str, full: bool = False) -> bool:
        """True when the stored object still has the content its digest names."""
        target = self.path(digest)
        if not target.is_dir():
            return False
        manifest_path = self.objects / f"{digest}.manifest.json"
        if not full and manifest_path.is_file():
            try:
                if json.loads(manifest_path.read_text()) == _manifest(target):
                    return True
            except (OSError, json.JSONDecodeError):
                pass
        try:
            ok = tree_digest(target) == digest
            if ok:
                self._write_manifest(digest)
        except FileNotFoundError:  # another process is replacing this damaged copy
            return False
        return ok

    def discard(self, digest: str) -> None:
        """Remove a stored object (a damaged one), under its digest's lock: a step's cache
        lookup and another step's commit may both find the same damaged copy."""
        with self._locked(digest):
            self._discard(digest)

    def _discard(self, digest: str) -> None:
        target = self.path(digest)
        trash = self.objects / f".trash-{uuid.uuid4().hex}"
        try:
            os.rename(target, trash)
        except FileNotFoundError:  # gone already
            pass
        else:
            _remove(trash)
        (self.objects / f"{digest}.manifest.json").unlink(missing_ok=True)


def _remove(path: Path) -> None:
    def _writable(func, p, _exc):
        os.chmod(p, stat.S_IRWXU)
        func(p)

    if path.is_dir():
        for p in [path, *path.rglob("*")]:
            if p.is_dir():
                p.chmod(stat.S_IRWXU)
        shutil.rmtree(path, onerror=_writable)
    elif path.exists():
        path.unlink()
