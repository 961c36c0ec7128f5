"""No PHI in a built dataset: names / MRNs / dates planted in DICOM tags, file names AND report text; built
through the real CLI with and without --text; every byte of --out (and every string value read back from
parquet and arrow) is searched, also after a SIGKILL. The de-identifier keeps OpenI masks and downloads nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pytest
from datasets import load_from_disk
from pydicom.data import DATA_ROOT

from tests.test_faults_build import kill_after_first_shard

CXRLABEL = str(Path(sys.executable).with_name("cxrlabel"))
SALT = "phi-test-salt-0123456"
ACCESSION = "ACC7788991"
PLANTED = ["Whitfield", "ELEANOR", "Eleanor", "MRN-55501234", "55501234", "19520314", "03/14/1952",
           "Pemberton", "617-555-0142", "Saint Mercy Hospital", ACCESSION, "WHITFIELD"]
REPORT = ("FINDINGS: Patient Eleanor Whitfield, MRN-55501234, DOB 03/14/1952, seen at Saint Mercy Hospital. "
          "Small left pleural effusion. There are no XXXX of pneumothorax.\n"
          "IMPRESSION: Effusion. Discussed with Dr. Harold Pemberton at 617-555-0142.")


def plant(root: Path, copies: int = 1) -> tuple[Path, Path, Path]:
    source = Path(DATA_ROOT) / "test_files" / "CT_small.dcm"
    if not source.is_file():
        pytest.skip("CT_small.dcm is not bundled with this pydicom")
    images = root / "images" / "WHITFIELD_ELEANOR_19520314"
    images.mkdir(parents=True)
    labels, reports = ["id,Effusion"], ["id,text"]
    for index in range(copies):
        accession = ACCESSION if index == 0 else f"{ACCESSION}{index}"
        dataset = pydicom.dcmread(source)
        dataset.PatientName, dataset.PatientBirthDate = "WHITFIELD^ELEANOR", "19520314"
        dataset.PatientID, dataset.AccessionNumber, dataset.ViewPosition = "MRN-55501234", accession, "PA"
        dataset.InstitutionName, dataset.ReferringPhysicianName = "Saint Mercy Hospital", "PEMBERTON^HAROLD"
        dataset.save_as(images / f"Whitfield_Eleanor_{index}.dcm")
        labels.append(f"{accession},1")
        reports.append(f'{accession},"{REPORT}"')
    (root / "labels.csv").write_text("\n".join(labels) + "\n")
    (root / "reports.csv").write_text("\n".join(reports) + "\n")
    return images.parent, root / "labels.csv", root / "reports.csv"


def build(root: Path, out: Path, *extra: str) -> subprocess.Popen:
    images, labels, reports = root / "images", root / "labels.csv", root / "reports.csv"
    return subprocess.Popen([CXRLABEL, "build", "--labels", str(labels), "--reports", str(reports), "--images",
                             str(images), "--out", str(out), "--id-salt", SALT, "--size", "64", *extra],
                            stdout=subprocess.DEVNULL, stderr=open(root / "stderr.log", "w"),  # noqa: SIM115
                            env={**os.environ, "TMPDIR": str(root / "tmp")})


def strings_read_back(folder: Path) -> list[str]:
    """Every string value of every parquet file and of the saved dataset (decompressed)."""
    values = []
    for path in folder.rglob("*.parquet"):
        for column in pq.read_table(path).to_pylist():
            values += [str(v) for v in column.values()]
    if (folder / "dataset_dict.json").is_file():
        for split in load_from_disk(str(folder)).values():
            for row in split.remove_columns([c for c in ("image",) if c in split.column_names]):
                values += [str(v) for v in row.values()]
    return values


def assert_no_phi(*folders: Path) -> None:
    for folder in folders:
        values = "\n".join(strings_read_back(folder))
        for path in (p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            for secret in [*PLANTED, SALT]:
                assert secret.encode() not in data, f"{secret} in {path}"
        for secret in PLANTED:
            assert secret not in values, secret


@pytest.mark.parametrize("text", [False, True])
def test_no_phi_in_the_dataset_with_and_without_text(tmp_path, text):
    plant(tmp_path)
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "ds"
    process = build(tmp_path, out, *(["--text", "findings,impression"] if text else []))
    process.wait(timeout=600)
    assert process.returncode == 0, (tmp_path / "stderr.log").read_text()
    assert_no_phi(out, tmp_path / "tmp")
    [row] = [row for split in load_from_disk(str(out)).values() for row in split]
    assert row["report_id"].startswith("r_")  # accession numbers from DICOM tags are hashed by default
    if text:
        assert "Small left pleural effusion. There are no XXXX of pneumothorax." in row["findings"]
        assert "<PERSON>" in row["findings"] and "<ID>" in row["findings"] and "<DATE>" in row["findings"]
    else:
        assert "findings" not in row and "impression" not in row


def test_no_phi_left_by_a_killed_text_build(tmp_path):
    plant(tmp_path, copies=300)
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "ds"
    process = build(tmp_path, out, "--text", "findings,impression", "--shard-size", "20")
    kill_after_first_shard(process, out)
    assert_no_phi(out, tmp_path / "tmp")
    assert not [p for p in out.rglob("*") if "sqlite" in p.name]


def test_text_needs_a_deid_backend_for_its_language(tmp_path):
    plant(tmp_path)
    (tmp_path / "summary.json").write_text('{"lang": "zh"}')
    process = build(tmp_path, tmp_path / "ds", "--text", "impression")
    process.wait(timeout=600)
    stderr = (tmp_path / "stderr.log").read_text()
    assert process.returncode == 2 and "Chinese" in stderr and "Traceback" not in stderr


def test_deidentifier_opens_no_connection_and_keeps_masks(tmp_path):
    script = ("import socket\n"
              "def refuse(*a, **k): raise OSError('network used')\n"
              "socket.socket.connect = refuse\n"
              "from cxrlabel.imageset.deid import Deidentifier\n"
              f"print(Deidentifier().clean_many([{REPORT!r}, 'Cardiomegaly.', ''])[0:2])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "XXXX of pneumothorax" in result.stdout and "'Cardiomegaly.'" in result.stdout
    assert not any(secret in result.stdout for secret in PLANTED)
