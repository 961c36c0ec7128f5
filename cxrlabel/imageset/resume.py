"""Resumable working state in <out>/.build: a fingerprint of the inputs and options, and one marker per finished
shard (its counts and problems, ids already pseudonymised; never report text). --resume keeps the finished shards
of an interrupted build with the same fingerprint; otherwise what earlier builds wrote is removed (nothing else)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from cxrlabel.errors import UserError
from cxrlabel.imageset.outdir import WORK, OutputFolder
from cxrlabel.imageset.pairing import ImageRef
from cxrlabel.imageset.problems import Problem
from cxrlabel.imageset.shards import ShardResult


def fingerprint(settings: dict, inputs: Iterable[Path | None], refs: list[ImageRef]) -> str:
    """sha256 of the settings, the bytes of the input files and the planned rows."""
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, default=str).encode())
    for path in inputs:
        if path is not None and path.is_file():
            with open(path, "rb") as handle:  # in 1 MiB blocks: a large reports file is not read whole
                while block := handle.read(1 << 20):
                    digest.update(block)
    for ref in refs:
        digest.update("\0".join((ref.report_id, ref.relative, ref.view, ref.patient, ref.split, "\n")).encode())
    return digest.hexdigest()


class BuildState:
    """The working folder of one build: started afresh or resumed, shard markers written and read back."""

    def __init__(self, folder: OutputFolder):
        self.folder = folder
        self.work = folder.root / WORK

    def start(self, fingerprint: str, resume: bool) -> None:
        """Keep the finished shards of an interrupted build (resume, same fingerprint), or remove what earlier
        builds wrote here (and nothing else) and start afresh."""
        state = self.work / "state.json"
        if resume and state.is_file() and self.folder.owns(f"{WORK}/state.json"):
            if json.loads(state.read_text()).get("fingerprint") != fingerprint:
                raise UserError(f"{self.folder.root}: the inputs or options changed since the interrupted build; "
                                "run again without --resume")
            return
        self.folder.remove_previous()
        self.folder.register(self.work)
        self.work.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"fingerprint": fingerprint}))

    def _marker(self, number: int) -> Path:
        return self.work / f"shard-{number:05d}.json"

    def is_done(self, number: int) -> bool:
        """Whether shard `number` was finished (by this run, or an interrupted one kept with --resume)."""
        return self._marker(number).is_file()

    def mark_done(self, number: int, result: ShardResult) -> None:
        self._marker(number).write_text(json.dumps(asdict(result)))

    def results(self) -> list[ShardResult]:
        """The results of all finished shards, in shard order."""
        results = []
        for marker in sorted(self.work.glob("shard-*.json")):
            data = json.loads(marker.read_text())
            results.append(ShardResult(data["rows"], data["excluded_views"], data["patient_source"],
                                       [Problem(**p) for p in data["problems"]]))
        return results
