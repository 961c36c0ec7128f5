"""Images/s of `cxrlabel build` (DICOM → 1024² PNG) with 1 and 2 workers, and the OpenI text-only dataset.

Run: python benchmarks/build_throughput.py [--copies N] [--size 1024]
Images: pydicom's bundled test files (plain, JPEG baseline/extended, JPEG 2000, JPEG-LS, RLE), copied N times
into a temporary folder with a manifest; no real chest X-rays are in ../shared/data yet (check its SOURCE.md
files). The whole build command is timed (decode + resize + PNG encode + parquet + save_to_disk).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from cxrlabel.cli import app

FILES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "JPGExtended.dcm", "MR_small_RLE.dcm",
         "MR_small_jpeg_ls_lossless.dcm", "liver_1frame.dcm", "SC_rgb_jpeg.dcm"]
OPENI = Path(__file__).resolve().parents[1] / "cxrlabel" / "data" / "openi" / "reports_dev.csv"
PROJECTIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "openi" / "projections.csv"


def run(args: list[str]) -> float:
    started = time.perf_counter()
    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise SystemExit(result.output)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=25)
    parser.add_argument("--size", type=int, default=1024)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cxr_build_bench_"))
    try:
        images = work / "images"
        images.mkdir()
        labels, manifest = work / "labels.csv", work / "manifest.csv"
        with open(labels, "w", newline="") as lf, open(manifest, "w", newline="") as mf:
            lw, mw = csv.writer(lf), csv.writer(mf)
            lw.writerow(["id", "Effusion"])
            mw.writerow(["report_id", "path", "view"])
            for copy in range(options.copies):
                for index, name in enumerate(FILES):
                    target = f"{copy:04d}_{index}.dcm"
                    shutil.copy(get_testdata_file(name), images / target)
                    lw.writerow([f"s{copy}_{index}", copy % 2])
                    mw.writerow([f"s{copy}_{index}", target, "PA"])
        n_images = options.copies * len(FILES)
        for workers in (1, 2):
            seconds = run(["build", "--labels", str(labels), "--images", str(images), "--manifest", str(manifest),
                           "--out", str(work / f"ds{workers}"), "--id-salt", "bench", "--size", str(options.size),
                           "--workers", str(workers), "--shard-size", "100"])
            print(f"DICOM → {options.size}² PNG, {n_images} images, {workers} worker(s): {seconds:.1f} s, "
                  f"{n_images / seconds:.1f} images/s")
        mined = work / "mined"
        run(["mine", str(OPENI), "--lang", "en", "--out", str(mined), "--workers", "2"])
        seconds = run(["build", "--labels", str(mined / "labels.csv"), "--reports", str(OPENI),
                       "--out", str(work / "openi_text"), "--id-salt", "bench"])
        from datasets import load_from_disk

        dataset = load_from_disk(str(work / "openi_text"))
        print(f"OpenI text-only label dataset: {({k: v.num_rows for k, v in dataset.items()})} in {seconds:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
