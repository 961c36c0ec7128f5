"""Ownership of the `--out` folder: a build removes or replaces only what a build of its own wrote.

A marker file lists every path the build wrote (registered before the file is created, so a killed build is
covered too). A non-empty folder without the marker is someone else's: refused unless `--overwrite`, and even
then its files are never removed or replaced (a build that would need to replace one stops with its name).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.splits import SPLITS

MARKER = ".cxrlabel-build.json"
WORK = ".build"  # resumable working state inside the folder (no report text; see TextStore)
TOP_FILES = ("dataset_dict.json", "summary.json", "README.md", "errors.csv")
_SPLIT_FILE = re.compile(r"(data-\d+-of-\d+\.arrow|state\.json|dataset_info\.json)")
_SHARD_FILE = re.compile(r"(shard-\d+\.(parquet|tmp)|empty\.parquet)")


def is_build_output(relative: str) -> bool:
    """Whether `relative` (a path under --out, '/'-separated) is a name a build writes."""
    parts = relative.split("/")
    if parts[0] == WORK or relative in (*TOP_FILES, MARKER, MARKER + ".tmp"):
        return True
    if len(parts) == 2 and parts[0] in SPLITS:
        return bool(_SPLIT_FILE.fullmatch(parts[1]))
    return len(parts) == 3 and parts[0] == "parquet" and parts[1] in SPLITS and bool(
        _SHARD_FILE.fullmatch(parts[2]))


class OutputFolder:
    """The --out folder and the set of paths (relative, '/'-separated) that builds of cxrlabel wrote there."""

    def __init__(self, root: Path, overwrite: bool = False):
        self.root = root
        if root.exists() and not root.is_dir():
            raise UserError(f"{root}: exists and is not a folder")
        marker = root / MARKER
        self.owned: set[str] = set()
        if marker.is_file():
            try:
                self.owned = set(json.loads(marker.read_text(encoding="utf-8"))["files"])
            except (ValueError, KeyError, TypeError):
                raise UserError(f"{marker}: unreadable build marker; move the folder away or choose another "
                                "--out") from None
        elif root.is_dir() and any(root.iterdir()) and not overwrite:
            raise UserError(f"{root}: folder is not empty and was not written by cxrlabel build; choose a new or "
                            "empty --out, or add --overwrite to build beside its files (they are never touched)")
        clashes = [rel for rel in self._files() if not self.owns(rel) and is_build_output(rel)]
        if clashes:
            raise UserError(f"{root / clashes[0]}: not written by cxrlabel build but a build would replace it; "
                            f"move it away ({len(clashes)} such file(s))")

    def owns(self, relative: str) -> bool:
        """A path a build registered, or anything under the working folder once a build registered it."""
        return (relative in self.owned or relative in (MARKER, MARKER + ".tmp")
                or (relative.startswith(WORK + "/") and WORK + "/" in self.owned))

    def _files(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def register(self, *paths: Path) -> None:
        """Record paths as the build's before they are written (the marker is rewritten atomically)."""
        names = {p.relative_to(self.root).as_posix() for p in paths}
        new = {WORK + "/" if name == WORK else name for name in names} - self.owned
        if not new:
            return
        self.owned |= new
        self._write_marker()

    def settle(self) -> None:
        """After a finished build: the marker lists only the files that are there."""
        self.owned = {relative for relative in self.owned if (self.root / relative).exists()}
        self._write_marker()

    def _write_marker(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / (MARKER + ".tmp")
        temporary.write_text(json.dumps({"written_by": "cxrlabel build", "files": sorted(self.owned)}, indent=1),
                             encoding="utf-8")
        os.replace(temporary, self.root / MARKER)

    def remove_previous(self, under: tuple[str, ...] = ()) -> None:
        """Delete the files an earlier build wrote (all but the marker; only those under the `under` folders
        when given), then the folders they leave empty. Only names a build writes are deleted, whatever the
        marker says."""
        for relative in sorted(self.owned):
            if under and relative.split("/")[0] not in under:
                continue
            if relative.startswith(WORK):
                shutil.rmtree(self.root / WORK, ignore_errors=True)
            elif relative != MARKER and is_build_output(relative):
                (self.root / relative).unlink(missing_ok=True)
        self.prune_empty_folders()

    def prune_empty_folders(self) -> None:
        """Remove the folders of the build's own files that are now empty (never one holding anything)."""
        folders = {parent for relative in self.owned for parent in Path(relative).parents if parent != Path(".")}
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            path = self.root / folder
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    def move_in(self, source: Path, relative: str) -> None:
        """Move a finished file (same file system) to `relative`, refusing to replace a file that is not ours."""
        target = self.root / relative
        if target.exists() and not self.owns(relative):
            raise UserError(f"{target}: not written by cxrlabel build; move it away and run again")
        self.register(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
