"""`torchrun --nproc-per-node 2 -m cxrtrain fit` on CPU (gloo): DistributedDataParallel through torch's own launcher."""

import json
import os
import subprocess
import sys

import torch
from test_train_fit import NAMES, synthetic_dataset

from cxrtrain.model import rebuild_model


def test_torchrun_two_processes_train_one_model(tmp_path):
    dataset = synthetic_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "cxrtrain", "fit", dataset, "--out", str(run), "--backbone", "tiny", "--pretrained", "none",
               "--transition", "16", "--epochs", "2", "--batch-size", "4", "--resize", "40", "--crop", "32"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]  # one log: only rank 0 writes
    assert log[0]["steps"] == 2  # 16 images, 2 ranks × batch 4 → 2 steps per rank
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    model = rebuild_model(torch.load(run / "best.pt", weights_only=False)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, len(NAMES))
