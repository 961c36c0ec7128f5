"""Chinese labeler throughput (reports/s) through the mining runner, 1 and 2 worker processes.

Run: python benchmarks/zh_speed.py [REPORTS_CSV] [N]
(default ../shared/data/zh/reports_dev.csv, else tests/data/zh_variants.csv; N = 20000 reports)

Two corpora of N reports each, built from the source reports:
- repeated: the source reports cycled (hospital reports repeat a lot, so the per-clause caches hit);
- varied: every clause given a location in front and a remark glued after it, drawn at random from lists of
  a few dozen each, so most clauses are new to the caches (a worst case for the caches, not real text).
Every run starts with empty caches; times include starting the worker processes and read nothing from disk.
"""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

from cxrlabel.labelsets import load_label_set
from cxrlabel.runner import run_labeler
from cxrlabel.types import Report
from cxrlabel.zh.dong import assign_all
from cxrlabel.zh.regions import decide_sentence
from cxrlabel.zh.text import canonical

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "zh" / "reports_dev.csv"
BUNDLED = ROOT / "tests" / "data" / "zh_variants.csv"
PLACES = ["右上肺", "左上肺", "右中肺", "左中肺", "右下肺", "左下肺", "两上肺", "两中下肺", "右肺门旁", "左肺门旁",
          "右侧", "左侧", "两侧", "双侧", "右肺尖", "左肺尖", "右心缘旁", "左心缘旁", "右膈上", "左膈上",
          "右侧胸壁", "左侧胸壁", "右锁骨下", "左锁骨下", "后前位", "正位片", "床旁片", "立位", "卧位", "复查"]
REMARKS = ["较前相仿", "较前进展", "较前好转", "较前吸收", "请随诊", "建议复查", "请结合临床", "建议CT检查",
           "必要时复查", "请结合病史", "与前片比较", "变化不大", "随访", "建议随诊", "动态观察", "对比前片",
           "新出现", "同前", "大致同前", "未见明显变化", "建议短期复查", "建议进一步检查", "请对比旧片",
           "请临床注意", "以下肺为著", "以右侧为著", "以左侧为著", "为主", "较明显", "较轻"]


def vary(text: str, rng: random.Random) -> str:
    parts = [p for p in text.replace("，", "。").split("。") if p]
    return "。".join(f"{rng.choice(PLACES)}{p}{rng.choice(REMARKS)}" for p in parts) + "。"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else (SHARED if SHARED.exists() else BUNDLED)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    rows = [r for r in csv.DictReader(open(path, encoding="utf-8-sig")) if r["findings"] or r["diagnosis"]]
    rng = random.Random(0)
    repeated = [Report(f"r{i}", "", {"findings": rows[i % len(rows)]["findings"],
                                     "diagnosis": rows[i % len(rows)]["diagnosis"]}) for i in range(n)]
    varied = [Report(r.id, "", {name: vary(text, rng) for name, text in r.sections.items() if text})
              for r in repeated]
    print(f"source {path} ({len(rows)} reports), {n} reports per corpus")
    for name in ("dong10", "regions5"):
        label_set = load_label_set(name)
        for corpus_name, corpus in (("repeated", repeated), ("varied", varied)):
            for workers in (1, 2):
                for cached in (assign_all, decide_sentence, canonical):
                    cached.cache_clear()  # forked workers would inherit the previous run's caches
                started = time.perf_counter()
                done = sum(1 for _ in run_labeler(iter(corpus), "zh", label_set, {}, workers=workers,
                                                  batch_size=256))
                rate = done / (time.perf_counter() - started)
                print(f"{name:9s} {corpus_name:9s} workers={workers}: {rate:8.0f} reports/s")


if __name__ == "__main__":
    main()
