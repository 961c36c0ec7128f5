"""Train the Punkt sentence-splitter parameters shipped in rules/en/punkt_params.json.

Unsupervised NLTK PunktTrainer over report text (by default the OpenI development reports), plus
the abbreviations listed in rules/en/abbreviations.txt. Run: python scripts/train_punkt.py [CSV ...]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from nltk.tokenize.punkt import PunktTrainer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "openi" / "reports_dev.csv"


def corpus_text(paths: list[Path]) -> str:
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                texts.extend(row.get(col) or "" for col in ("findings", "impression"))
    return "\n\n".join(t for t in texts if t.strip())


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or [DEFAULT_CORPUS]
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    trainer.train(corpus_text(paths), finalize=True)
    params = trainer.get_params()
    # Unsupervised training also proposes ordinary words seen before a period ("pneumothoraces.");
    # keep only learned abbreviations with an inner period (a.m, e.g) plus the curated list.
    params.abbrev_types = {a for a in params.abbrev_types if "." in a}
    abbreviations = ROOT / "rules" / "en" / "abbreviations.txt"
    for line in abbreviations.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            params.abbrev_types.add(line.strip())
    out = {
        "trained_on": [p.name for p in paths],
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted(list(c) for c in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    }
    target = ROOT / "rules" / "en" / "punkt_params.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}: {len(out['abbrev_types'])} abbreviations, {len(out['sent_starters'])} starters")


if __name__ == "__main__":
    main(sys.argv[1:])
