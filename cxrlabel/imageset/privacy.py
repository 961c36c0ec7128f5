"""Pseudonymisation: keyed hashes (HMAC-SHA256 with the user's secret) replace patient ids, source paths and,
on request, report ids, so no PHI reaches the dataset. The secret itself is written nowhere."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path, PurePath

from cxrlabel.imageset.problems import Problem


def keyed_hash(value: str, salt: str, length: int = 16) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:length]


def pseudonymous_patient(patient_id: str, salt: str) -> str:
    return "p_" + keyed_hash("patient:" + patient_id, salt)


def pseudonymous_report(report_id: str, salt: str) -> str:
    return "r_" + keyed_hash("report:" + report_id, salt)


def rekeyed_path(relative_path: str, salt: str) -> str:
    """A stable stand-in for a source path (its name may embed a patient name): hash + original extension."""
    suffix = PurePath(relative_path).suffix.lower()
    return "img_" + keyed_hash("path:" + relative_path, salt) + (suffix if suffix.isascii() and len(suffix) <= 6
                                                                else "")


def scrub(reason: str, *secrets: str) -> str:
    """An error reason with any occurrence of the given names (file paths, their parts) replaced by `<file>`."""
    for secret in sorted({s for s in secrets if s and len(s) > 2}, key=len, reverse=True):
        reason = reason.replace(secret, "<file>")
    return reason


@dataclass(frozen=True)
class Pseudonymiser:
    """Report ids (hashed when `hash_ids`) and problem records as the dataset and errors.csv may show them."""

    salt: str
    hash_ids: bool = False

    def report_key(self, report_id: str) -> str:
        return pseudonymous_report(report_id, self.salt) if self.hash_ids else report_id

    def problem(self, report_id: str, relative: str, reason: str) -> Problem:
        """A problem with its report id keyed, its file re-keyed and the file's name scrubbed from the reason."""
        source = rekeyed_path(relative, self.salt) if relative else ""
        secrets = (relative, *Path(relative).parts, Path(relative).stem) if relative else ()
        return Problem(self.report_key(report_id) if report_id else "", source, scrub(reason, *secrets))
