"""Speed and memory of `cxrlabel build`: DICOM → 1024² PNG images/s with 1 and 2 workers, and peak memory.

Run from the repository root:
  .venv/bin/python benchmarks/build_throughput.py                 # bundled pydicom files, 1 and 2 workers
  .venv/bin/python benchmarks/build_throughput.py --fullsize 40   # + synthetic 2500×2048 12-bit DICOMs
  .venv/bin/python benchmarks/build_throughput.py --memory        # + 300 / 1,200 / 3,000 images, 10k / 100k studies
  .venv/bin/python benchmarks/build_throughput.py --copies 0 --memory-images 3000,30000   # 256² PNG, 2 workers

Each setting runs the installed `cxrlabel build` as a subprocess (interpreter start, pairing, decoding, PNG
encoding, parquet shards and save_to_disk all included) and prints images/s = images / wall seconds, and the
CPU seconds (user + sys of the command and its workers: the cost, whatever else runs on the machine), and the
peak PSS summed over the process tree (main process + decoding workers), sampled every 0.1 s: all of it, and
the heap part (Pss_Anon: without the memory-mapped Arrow / parquet files, whose pages the kernel can drop).
Images: pydicom's bundled test files (read from disk, never downloaded: plain 16-bit, RLE, JPEG-LS, JPEG 2000,
12-bit JPEG extended, RGB JPEG), copied `--copies` times. No real chest X-rays are in ../shared/data yet; the
`--fullsize` files are SYNTHETIC images of chest-radiograph size (smooth noise, uncompressed and JPEG 2000), and
the `--memory-images` files SYNTHETIC 256×256 8-bit PNGs (4 of them hard-linked under N names, one study each,
N / 4 patients) built at --size 256 --workers 2 --shard-size 1000: memory against N, with little decoding work.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BUNDLED = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEG2000.dcm",
           "JPGExtended.dcm", "693_J2KI.dcm", "SC_rgb_jpeg.dcm", "examples_overlay.dcm", "liver_1frame.dcm"]
CLI = str(Path(sys.executable).with_name("cxrlabel"))


def process_tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                stack += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return pids


def pss_kib(pid: int) -> np.ndarray:
    """(Pss, Pss_Anon) in KiB: all memory, and heap only (without memory-mapped files such as Arrow tables)."""
    values = np.zeros(2, dtype=np.int64)
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            for index, key in enumerate(("Pss:", "Pss_Anon:")):
                if line.startswith(key):
                    values[index] = int(line.split()[1])
    except OSError:
        pass
    return values


def run(args: list[str]) -> tuple[float, str]:
    """Wall seconds and 'peak PSS X MiB (heap Y MiB)' over the process tree of `cxrlabel ARGS`."""
    load = os.getloadavg()[0]  # other processes on the machine share its cores: printed beside each figure
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = np.zeros(2, dtype=np.int64)
    while process.poll() is None:
        peak = np.maximum(peak, sum((pss_kib(pid) for pid in process_tree(process.pid)), np.zeros(2, np.int64)))
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(output)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its (joined) decoding workers
    cpu = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
    return seconds, (f"CPU {cpu:.1f} s, peak PSS {peak[0] / 1024:.0f} MiB (heap {peak[1] / 1024:.0f} MiB), "
                     f"load before {load:.1f}")


def write_inputs(work: Path, files: list[tuple[str, Path]], copies: int, texts: bool = False) -> tuple[Path, Path]:
    """Copies (hard links where the file system allows) of the files under work/images + labels.csv +
    manifest.csv (one study per image)."""
    images = work / "images"
    images.mkdir(parents=True, exist_ok=True)
    labels, manifest = work / "labels.csv", work / "manifest.csv"
    with open(labels, "w", newline="") as lf, open(manifest, "w", newline="") as mf:
        label_writer, manifest_writer = csv.writer(lf), csv.writer(mf)
        label_writer.writerow(["id", "Effusion", "normal"])
        manifest_writer.writerow(["report_id", "path", "view", "patient_id"])
        for copy in range(copies):
            for index, (name, source) in enumerate(files):
                target = f"{copy:05d}_{index}{Path(name).suffix}"
                try:
                    os.link(source, images / target)
                except OSError:
                    shutil.copy(source, images / target)
                label_writer.writerow([f"s{copy}_{index}", copy % 2, 1 - copy % 2])
                manifest_writer.writerow([f"s{copy}_{index}", target, "PA", f"p{copy}"])
    return labels, manifest


def image_rates(work: Path, files: list[tuple[str, Path]], copies: int, size: int, label: str,
                workers_list: tuple[int, ...] = (1, 2), shard_size: int = 200) -> None:
    labels, manifest = write_inputs(work, files, copies)
    count = copies * len(files)
    for workers in workers_list:
        seconds, peak = run(["build", "--labels", str(labels), "--images", str(work / "images"), "--manifest",
                             str(manifest), "--out", str(work / f"ds{workers}"), "--id-salt", "bench", "--size",
                             str(size), "--workers", str(workers), "--shard-size", str(shard_size)])
        print(f"{label}: {count:,} images → {size}² PNG, --workers {workers}: {seconds:.1f} s, "
              f"{count / seconds:.1f} images/s, {peak}", flush=True)
    shutil.rmtree(work)


def synthetic_chest(folder: Path) -> list[tuple[str, Path]]:
    """A 2500×2048 12-bit MONOCHROME2 DICOM with a stored window, uncompressed and (when the encoder is
    installed) JPEG 2000 lossless. Smooth noise, no anatomy: it has the size and bit depth of a CR/DX image."""
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, SecondaryCaptureImageStorage, generate_uid

    rng = np.random.default_rng(0)
    small = (rng.random((80, 64)) * 255).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((2048, 2500), Image.Resampling.BICUBIC), np.float32)
    pixels = np.clip(smooth * 14 + rng.normal(0, 20, smooth.shape), 0, 4095).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 12, 11, 0
    dataset.WindowCenter, dataset.WindowWidth = 2000, 3500
    dataset.PixelData = pixels.tobytes()
    files = [("chest_uncompressed.dcm", folder / "chest_uncompressed.dcm")]
    dataset.save_as(files[0][1], enforce_file_format=True)
    try:
        dataset.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
        dataset.save_as(folder / "chest_j2k.dcm", enforce_file_format=True)
        files.append(("chest_j2k.dcm", folder / "chest_j2k.dcm"))
    except Exception as exc:  # no JPEG 2000 encoder installed: the uncompressed file alone
        print(f"(no JPEG 2000 encoder: {exc.__class__.__name__}; uncompressed only)")
    return files


def synthetic_png(folder: Path, count: int = 4, size: int = 256) -> list[tuple[str, Path]]:
    """`count` SYNTHETIC size×size 8-bit grey PNGs (smooth noise, no anatomy)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    files = []
    for index in range(count):
        small = Image.fromarray((rng.random((size // 8, size // 8)) * 255).astype(np.uint8))
        files.append((f"synthetic_{index}.png", folder / f"synthetic_{index}.png"))
        small.resize((size, size), Image.Resampling.BICUBIC).save(files[-1][1])
    return files


def memory(work: Path, studies: int) -> None:
    """Text-only build of `studies` synthetic studies (2 images each in the manifest, --views frontal) with
    report texts: peak PSS."""
    work.mkdir(parents=True)
    sentence = "The heart size is normal. There is no focal consolidation, effusion or pneumothorax. "
    with open(work / "labels.csv", "w", newline="") as lf, open(work / "reports.csv", "w", newline="") as rf, \
            open(work / "manifest.csv", "w", newline="") as mf:
        labels, reports, manifest = csv.writer(lf), csv.writer(rf), csv.writer(mf)
        names = [f"L{i}" for i in range(14)]
        labels.writerow(["id", *names])
        reports.writerow(["uid", "findings", "impression"])
        manifest.writerow(["uid", "filename", "projection", "patient_id"])
        states = ["1", "0", "-1", "", "", ""]
        for study in range(studies):
            labels.writerow([f"s{study}", *(states[(study + i) % 6] for i in range(14))])
            reports.writerow([f"s{study}", sentence * 6 + f"Study {study}.", "No acute disease."])
            manifest.writerow([f"s{study}", f"{study}_frontal.dcm", "Frontal", f"p{study // 3}"])
            manifest.writerow([f"s{study}", f"{study}_lateral.dcm", "Lateral", f"p{study // 3}"])
    seconds, peak = run(["build", "--labels", str(work / "labels.csv"), "--reports", str(work / "reports.csv"),
                         "--manifest", str(work / "manifest.csv"), "--views", "frontal", "--out",
                         str(work / "ds"), "--id-salt", "bench", "--shard-size", "5000"])
    print(f"text-only, {studies:,} studies (findings + impression, 14 labels, manifest 2 views, frontal kept): "
          f"{seconds:.1f} s, {studies / seconds:,.0f} studies/s, {peak}", flush=True)
    shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=30, help="copies of each bundled file (0: none)")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--fullsize", type=int, default=0, help="copies of each synthetic 2500×2048 DICOM")
    parser.add_argument("--memory", action="store_true", help="10k / 100k-study text-only and image memory runs")
    parser.add_argument("--memory-images", default="", metavar="N,N,...",
                        help="image builds of N synthetic 256² PNGs (--workers 2): memory against N")
    options = parser.parse_args()
    from pydicom.data import DATA_ROOT

    bundled = [(name, Path(DATA_ROOT) / "test_files" / name) for name in BUNDLED]
    bundled = [(name, path) for name, path in bundled if path.is_file()]
    root = Path(tempfile.mkdtemp(prefix="cxr_build_bench_"))
    try:
        if options.copies:
            image_rates(root / "bundled", bundled, options.copies, options.size,
                        f"pydicom bundled files ({len(bundled)} kinds × {options.copies})")
        if options.fullsize:
            (root / "synthetic").mkdir()
            image_rates(root / "full", synthetic_chest(root / "synthetic"), options.fullsize, options.size,
                        "synthetic 2500×2048 12-bit")
        if options.memory:
            for copies in (30, 120, 300):  # 300 / 1,200 / 3,000 images at 1024²: memory should not grow with them
                image_rates(root / f"mem{copies}", bundled, copies, options.size, "memory check", (1,))
            for studies in (10_000, 100_000):
                memory(root / f"text{studies}", studies)
        if options.memory_images:
            (root / "png").mkdir()
            pngs = synthetic_png(root / "png")
            for count in (int(n) for n in options.memory_images.split(",")):  # a multiple of len(pngs)
                image_rates(root / f"png{count}", pngs, count // len(pngs), 256,
                            f"memory check, SYNTHETIC 256² PNG ({len(pngs)} files × {count // len(pngs)})", (2,), 1000)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
