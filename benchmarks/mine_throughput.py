"""Throughput and peak memory of the real `cxrlabel mine` path on repeated OpenI reports.

Runs the installed `cxrlabel mine` command as a subprocess on CSV inputs built from the OpenI
development reports and prints, per setting: reports/s (wall clock of the whole command, start-up
and model load included, and the mining rate from the command's own summary.json) and peak memory
of the process tree (the main process plus its worker processes), sampled every 0.1 s from /proc:

- RSS sum: the sum of the processes' resident set sizes. Forked workers share pages with the parent
  (copy-on-write), so this counts shared pages more than once and overstates the real use.
- PSS sum: proportional set size (shared pages split between their users); the closer figure for
  the memory the run really takes.

Settings: the 2,851 distinct reports alone (cold sentence cache: every distinct sentence parsed
once), 20,000 reports (the reports repeated with unique ids) and, with --scale10, 200,000 reports
to show whether memory stays flat when the input grows 10x. Repeated reports repeat sentences, so
the labeler's per-sentence cache answers most of them; the distinct-report figure is the honest one
for new text. Each setting runs with --workers 1 and 2.

--distinct-text N adds a cache stress run of N reports in which every repeated copy's sentences are
made new text (a per-copy nonsense word, e.g. "zq7", before each sentence-final period), so the
per-sentence cache keeps filling up to its bound (CACHE_SIZE entries per worker) as it would on a
corpus with no repeated sentences. Its labels mean nothing; it measures speed and memory only.

    .venv/bin/python benchmarks/mine_throughput.py [--scale10] [--distinct-text 60000] [--source REPORTS.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_SOURCE = ROOT.parent / "shared" / "data" / "openi" / "reports_dev.csv"
SHIPPED_SOURCE = ROOT / "cxrlabel" / "data" / "openi" / "reports_dev.csv"
POLL_SECONDS = 0.1
SENTENCE_END = re.compile(r"(?<=\w)\.(?=\s|$)")
TEXT_FIELDS = ("findings", "impression")


def write_input(source: Path, target: Path, n_reports: int | None, distinct_text: bool = False) -> int:
    """Write `n_reports` rows cycling through `source` (ids made unique); None = source once.

    With `distinct_text`, each repeated copy's sentences get a per-copy word so none repeats.
    """
    with open(source, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)  # the 2,851-row source is small; the output is streamed row by row
    id_column = "uid" if "uid" in fields else fields[0]
    total = len(rows) if n_reports is None else n_reports
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for index in range(total):
            copy, row = divmod(index, len(rows))
            record = dict(rows[row])
            if copy:
                record[id_column] = f"{record[id_column]}_r{copy}"
                if distinct_text:
                    for name in TEXT_FIELDS:
                        if record.get(name):
                            record[name] = SENTENCE_END.sub(f" zq{copy}.", record[name])
            writer.writerow(record)
    return total


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; zeros once it has gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class TreeMemoryPoller(threading.Thread):
    """Samples the summed RSS and PSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss_kib = self.peak_pss_kib = self.peak_processes = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            tree, pids, stack = _children(), [], [self.pid]
            while stack:
                pid = stack.pop()
                pids.append(pid)
                stack.extend(tree.get(pid, []))
            sizes = [_memory_kib(pid) for pid in pids]
            self.peak_rss_kib = max(self.peak_rss_kib, sum(r for r, _ in sizes))
            self.peak_pss_kib = max(self.peak_pss_kib, sum(p for _, p in sizes))
            self.peak_processes = max(self.peak_processes, sum(1 for r, _ in sizes if r))
            self._halt.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "cxrlabel"
    if script.exists():
        return [str(script)]
    found = shutil.which("cxrlabel")
    return [found] if found else [sys.executable, "-c", "from cxrlabel.cli import app; app()"]


def run_mine(input_csv: Path, out_dir: Path, workers: int) -> dict:
    """Run `cxrlabel mine` once; return its summary with wall time and peak memory."""
    command = [*cli_command(), "mine", str(input_csv), "--lang", "en", "--out", str(out_dir),
               "--workers", str(workers)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    poller = TreeMemoryPoller(process.pid)
    poller.start()
    _, stderr = process.communicate()
    poller.stop()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"cxrlabel mine failed ({process.returncode}):\n{stderr[-2000:]}")
    summary = json.loads((out_dir / "summary.json").read_text())
    return {
        "reports": summary["reports_read"],
        "failed": summary["reports_failed"],
        "wall_s": wall,
        "wall_rate": summary["reports_read"] / wall,
        "mining_rate": summary["reports_read"] / summary["seconds"],
        "peak_rss_mib": poller.peak_rss_kib / 1024,
        "peak_pss_mib": poller.peak_pss_kib / 1024,
        "processes": poller.peak_processes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None,
                        help=f"OpenI reports CSV (default {SHARED_SOURCE}, else the shipped copy)")
    parser.add_argument("--reports", type=int, default=20_000, help="reports in the 1x input (default 20000)")
    parser.add_argument("--scale10", action="store_true", help="also run 10x the reports (takes longer)")
    parser.add_argument("--distinct-text", type=int, default=0, metavar="N",
                        help="also run N reports whose repeated copies are made new text (cache stress)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    args = parser.parse_args()
    if not Path("/proc/self/smaps_rollup").exists():
        raise SystemExit("this benchmark samples memory from /proc (Linux 4.14 or later)")
    source = args.source or (SHARED_SOURCE if SHARED_SOURCE.exists() else SHIPPED_SOURCE)
    settings = [("distinct (cold cache)", None, False), ("1x", args.reports, False)]
    if args.scale10:
        settings.append(("10x", 10 * args.reports, False))
    if args.distinct_text:
        settings.append(("new-text stress", args.distinct_text, True))
    print(f"source: {source}; CPU cores: {os.cpu_count()}; command: {' '.join(cli_command())} mine ...")
    results = []
    with tempfile.TemporaryDirectory(prefix="cxrlabel-bench-") as tmp:
        for name, n_reports, distinct_text in settings:
            input_csv = Path(tmp) / f"reports_{name.split()[0]}.csv"
            total = write_input(source, input_csv, n_reports, distinct_text)
            for workers in args.workers:
                out_dir = Path(tmp) / f"out_{name.split()[0]}_{workers}"
                row = run_mine(input_csv, out_dir, workers)
                results.append((name, workers, row))
                print(f"{name:>21} | {total:>7} reports | workers {workers} | "
                      f"{row['wall_rate']:7.1f} reports/s wall ({row['wall_s']:.1f} s) | "
                      f"{row['mining_rate']:7.1f} reports/s mining | peak RSS sum {row['peak_rss_mib']:7.1f} MiB | "
                      f"peak PSS sum {row['peak_pss_mib']:7.1f} MiB | {row['processes']} processes | "
                      f"{row['failed']} in errors.csv", flush=True)
                shutil.rmtree(out_dir)
            input_csv.unlink()
    largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest single process over all runs (getrusage max RSS): {largest_child:.1f} MiB")
    if args.scale10:
        for workers in args.workers:
            base = next(r for n, w, r in results if n == "1x" and w == workers)
            big = next(r for n, w, r in results if n == "10x" and w == workers)
            print(f"workers {workers}: peak PSS 10x / 1x = {big['peak_pss_mib'] / base['peak_pss_mib']:.2f}, "
                  f"peak RSS sum 10x / 1x = {big['peak_rss_mib'] / base['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
