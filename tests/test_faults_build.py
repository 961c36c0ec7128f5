"""`cxrlabel build` under faults, through the real CLI (subprocesses, real SIGKILL): a folder it did not write is
refused or left intact, only a build's own files are replaced, a killed build leaves no report text behind and
resumes, old-style and truncated DICOM and non-image files are handled and said plainly."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from datasets import load_from_disk
from PIL import Image
from pydicom.data import DATA_ROOT

DATA = Path(__file__).parent / "data" / "build_openi"
SHARED_DICOM = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom"  # ../shared beside the repo
SALT = "fault-test-salt-0123"
OLD_STUDY = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"
CUT_STUDY = "1.2.826.0.1.3680043.8.498.13331179108403236084039838123417806584"
CXRLABEL = [str(Path(sys.executable).with_name("cxrlabel"))]  # the installed console script


def cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CXRLABEL, "build", *args, "--id-salt", SALT],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600, **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def text_build(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("--labels", str(DATA / "labels.csv"), "--reports", str(DATA / "reports.csv"), "--out", str(out), *extra)


def foreign_folder(root: Path, readme: bool = True) -> dict[str, bytes]:
    (root / "train").mkdir(parents=True)
    (root / "parquet").mkdir()
    (root / "train" / "train.py").write_text("print('my training script')\n")
    (root / "parquet" / "notes.txt").write_text("my notes\n")
    if readme:
        (root / "README.md").write_text("# my project\n")
    return snapshot(root)


def test_a_folder_no_build_wrote_is_refused_and_left_as_it_was(tmp_path):
    out = tmp_path / "mine"
    before = foreign_folder(out)
    result = text_build(out)
    assert result.returncode == 2
    assert "not written by cxrlabel build" in result.stderr and "--overwrite" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(out) == before
    # --overwrite builds beside unknown files, but never replaces one: README.md is in the way, named, kept
    result = text_build(out, "--overwrite")
    assert result.returncode == 2 and "README.md" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(out) == before


def test_overwrite_keeps_unknown_files_and_rebuilds_replace_only_the_builds_own(tmp_path):
    out = tmp_path / "mine"
    before = foreign_folder(out, readme=False)
    assert text_build(out, "--overwrite", "--shard-size", "5").returncode == 0
    after = snapshot(out)
    assert all(after[name] == data for name, data in before.items())  # train.py and notes.txt untouched
    assert sum(1 for name in after if name.startswith("parquet/train/shard-")) > 1
    assert sum(load_from_disk(str(out))[split].num_rows for split in ("train", "validation", "test")) == 30
    marker = json.loads((out / ".cxrlabel-build.json").read_text())
    assert "train/train.py" not in marker["files"] and "README.md" in marker["files"]
    # the folder is now the build's: a rebuild needs no flag, removes the old shards, keeps the user's files
    (out / "parquet" / "train" / "my-shard-notes.txt").write_text("mine too\n")
    result = text_build(out, "--shard-size", "1000")
    assert result.returncode == 0, result.stderr
    rebuilt = snapshot(out)
    assert all(rebuilt[name] == data for name, data in before.items())
    assert rebuilt["parquet/train/my-shard-notes.txt"] == b"mine too\n"
    shards = [name for name in rebuilt if name.startswith("parquet/train/shard-")]
    assert shards == ["parquet/train/shard-00000.parquet"]
    assert not (out / ".build").exists()


def png_study(root: Path, count: int, size: int = 384) -> tuple[Path, Path, Path, Path]:
    images = root / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray((rng.random((size, size)) * 255).astype(np.uint8)).save(images / f"{index}.png",
                                                                                compress_level=0)
    manifest, labels, reports = root / "manifest.csv", root / "labels.csv", root / "reports.csv"
    manifest.write_text("report_id,path,view\n" + "".join(f"S{i:05d},{i}.png,PA\n" for i in range(count)))
    labels.write_text("id,Effusion\n" + "".join(f"S{i:05d},{i % 2}\n" for i in range(count)))
    reports.write_text("id,findings,impression\n" + "".join(
        f"S{i:05d},Patient Eleanor Whitfield MRN 8473{i:04d} has a small effusion.,Effusion.\n" for i in range(count)))
    return images, manifest, labels, reports


def start_killable_build(root: Path, out: Path, *extra: str) -> subprocess.Popen:
    images, manifest, labels, reports = png_study(root, 240)
    return subprocess.Popen(
        [*CXRLABEL, "build", "--labels", str(labels), "--reports", str(reports),
         "--images", str(images), "--manifest", str(manifest), "--out", str(out), "--id-salt", SALT,
         "--size", "384", "--shard-size", "40", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(root / "tmp")})


def kill_after_first_shard(process: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 300
    while not list(out.glob("parquet/*/shard-*.parquet")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the build ended before it could be killed"


def test_killed_build_leaves_no_report_text_and_resumes(tmp_path):
    out, scratch = tmp_path / "ds", tmp_path / "tmp"
    scratch.mkdir()
    process = start_killable_build(tmp_path, out, "--text", "findings,impression")
    kill_after_first_shard(process, out)
    leftovers = [p for p in (*out.rglob("*"), *scratch.rglob("*")) if p.is_file()]
    assert not [p for p in leftovers if p.suffix in (".sqlite", ".db") or "texts" in p.name]
    assert not list(scratch.glob("cxrlabel-*"))  # the private text folder was removed right after opening
    for path in leftovers:
        data = path.read_bytes()
        assert b"Whitfield" not in data and b"84730001" not in data, path
    result = cli("--labels", str(tmp_path / "labels.csv"), "--reports", str(tmp_path / "reports.csv"), "--images",
                 str(tmp_path / "images"), "--manifest", str(tmp_path / "manifest.csv"), "--out", str(out),
                 "--size", "384", "--shard-size", "40", "--text", "findings,impression", "--resume")
    assert result.returncode == 0, result.stderr
    dataset = load_from_disk(str(out))
    rows = [row for split in dataset.values() for row in split.select_columns(["findings", "report_id"])]
    assert len(rows) == 240 and all(row["findings"] == "Patient <PERSON> MRN <ID> has a small effusion."
                                    for row in rows)


def bundled(name: str) -> Path:
    path = Path(DATA_ROOT) / "test_files" / name
    if not path.is_file():
        pytest.skip(f"{name} is not bundled with this pydicom")
    return path


def test_old_style_and_truncated_dicom_and_non_image_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    # an ACR-NEMA style file: no preamble, no file meta, implicit VR little endian
    source = bundled("MR_small_implicit.dcm")  # study 1.3.6.1.4.1.5962.1.2.4.20040826185059.5457, no accession
    meta_length = pydicom.dcmread(source).file_meta.FileMetaInformationGroupLength
    # preamble + DICM + (0002,0000) + file meta group cut off: the bare implicit VR little endian data set
    (images / "old.dcm").write_bytes(source.read_bytes()[132 + 12 + meta_length:])
    assert (images / "old.dcm").read_bytes()[128:132] != b"DICM"
    jpeg = bundled("SC_rgb_jpeg.dcm").read_bytes()  # JPEG baseline, study CUT_STUDY, cut at two thirds
    (images / "cut.dcm").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    (images / "SOURCE.md").write_text("# where these files come from\n")
    (images / "files.csv").write_text("file,sha256\nold.dcm,abc\n")
    real = SHARED_DICOM / "CR-MONO1-10-chest.dcm"
    if real.is_file():  # the real old-style CR (accession FUJI95714), read from ../shared when present
        (images / "cr.dcm").write_bytes(real.read_bytes())
    labels = tmp_path / "labels.csv"
    labels.write_text(f"id,Effusion\n{OLD_STUDY},1\n{CUT_STUDY},0\nFUJI95714,1\n")
    out = tmp_path / "ds"
    result = cli("--labels", str(labels), "--images", str(images), "--out", str(out), "--size", "64",
                 "--keep-report-ids")
    assert result.returncode == 0, result.stderr
    assert "2 non-image files skipped" in " ".join(result.stderr.split())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_non_image_files"] == 2
    rows = {row["report_id"]: row for split in load_from_disk(str(out)).values() for row in split}
    assert OLD_STUDY in rows and np.asarray(rows[OLD_STUDY]["image"]).std() > 0
    errors = (out / "errors.csv").read_text()
    assert CUT_STUDY in errors and "truncated DICOM" in errors and "no pixel data" not in errors
    assert "SOURCE" not in errors and "not an image" not in errors
    if real.is_file():
        image = np.asarray(rows["FUJI95714"]["image"], dtype=np.float32)
        assert image.std() > 10  # decoded, not a flat field
    else:
        assert "FUJI95714" in errors  # report without an image


@pytest.mark.skipif(not (SHARED_DICOM / "CR-MONO1-10-chest.dcm").is_file(), reason="../shared is absent")
def test_real_old_style_cr_and_cut_real_jpeg(tmp_path):
    from cxrlabel.imageset.images import ImageError, read_image

    image = read_image(SHARED_DICOM / "CR-MONO1-10-chest.dcm").pixels
    assert image.shape == (440, 440) and 0 <= image.min() < image.max() <= 1
    # MONOCHROME1 is inverted: the (dense) mediastinum is brighter than the (air) lung fields beside it
    assert image[150:300, 200:240].mean() > image[150:300, 80:140].mean()
    source = SHARED_DICOM / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ImageError, match="truncated"):
        read_image(cut)
