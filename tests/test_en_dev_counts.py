"""Regression gate on the OpenI development gold: per-label TP / FP / FN of `cxrlabel validate --gold openi`
(spaCy parser) must equal tests/data/dev_counts.json. A rule or vocabulary change that moves any count fails
here; when the change is deliberate, regenerate the file in the same commit:

    cxrlabel validate --gold openi --json /tmp/dev.json && python tests/test_en_dev_counts.py /tmp/dev.json
"""

import io
import json
import sys
from pathlib import Path

from rich.console import Console

COUNTS = Path(__file__).parent / "data" / "dev_counts.json"
UPDATE = ("if the change is deliberate, update the gate in the same commit: cxrlabel validate --gold openi "
          "--json /tmp/dev.json && python tests/test_en_dev_counts.py /tmp/dev.json")


def pinned_counts(scores: dict) -> dict:
    """The pinned part of a `validate --json` result: per-label counts and the ChestX-ray8 micro counts."""
    labels = {name: {key: row[key] for key in ("tp", "fp", "fn")} for name, row in scores["labels"].items()}
    cx8 = scores["chestxray8_micro"]
    return {"n_reports": scores["n_reports"], "labels": labels,
            "chestxray8_micro": {key: cx8[key] for key in ("tp", "fp", "fn", "f1")}}


def test_dev_counts_unchanged():
    from cxrlabel.cli import labeler_options
    from cxrlabel.validation import run_validation

    scores = run_validation(gold="openi", reports=None, lang="en", labels=None,
                            options=labeler_options("en", "spacy"), console=Console(file=io.StringIO()))
    expected = json.loads(COUNTS.read_text())
    got = pinned_counts(scores)
    changed = [f"{name}: pinned {expected['labels'].get(name)} now {row}"
               for name, row in got["labels"].items() if expected["labels"].get(name) != row]
    assert not changed and got == expected, "dev counts moved:\n" + "\n".join(changed) + f"\n{UPDATE}"


if __name__ == "__main__":
    COUNTS.write_text(json.dumps(pinned_counts(json.loads(Path(sys.argv[1]).read_text())), indent=2) + "\n")
    print(f"wrote {COUNTS}")
