"""Each `cxrtrain fit --recipe` and a logistic-regression pixel baseline on the NIH ChestX-ray14 64 px set.

    python benchmarks/nih_small.py --data ../shared/data/nih_cxr14 --json OUT.json

Builds the set through the documented CLI (`cxrlabel build`, NIH layout, the source's train / valid / test split from
nih_images.csv), trains every recipe through `cxrtrain fit` with small-CPU overrides (--backbone, --resize/--crop,
--epochs; random init) once per seed (--seeds, default 3), and scores the seeds' ensemble with `cxrtrain evaluate
RUN RUN RUN --out` (mean AUC over labels with ≥ 5 positives, bootstrap 95 % interval) on the validation split (to
choose) and the test split (to report); each seed's own test figure is kept beside it. One-vs-rest logistic
regression on the raw pixels of the same split (C chosen on the validation split) is the baseline. The default recipe
is the one whose ensemble has the best validation mean AUC (the test split chooses nothing). Writes
{"default_recipe", "recipes": {NAME: {"mean_auc", "ci95", "labels", "seeds", ...}}, "baseline_logreg": {"mean_auc",
...}, "settings"}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MIN_POSITIVES = 5
# small-CPU overrides given to every recipe (the recipe decides pooling, loss, transition, re-sampling, test crops)
COMMON = ["--pretrained", "none", "--backbone", "resnet-18", "--resize", "72", "--crop", "64",
          "--batch-size", "32", "--lr", "1e-3", "--patience", "5", "--transition", "256", "--workers", "0"]
RECIPE_OVERRIDES = {"chestxray8": [], "chexnet": [], "dong2017": []}  # chexnet's DenseNet-121: 3.6 images/s here


def run(command: list[str]) -> str:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    print(f"  {' '.join(command[2:5])} ... exit {done.returncode} in {time.perf_counter() - started:.0f} s",
          flush=True)
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
    return done.stdout + done.stderr if done.returncode else ""


def build(data: Path, out: Path) -> None:
    subprocess.run([str(Path(sys.executable).parent / "cxrlabel"), "build", "--labels",
                    str(next(data.glob("Data_Entry_2017*.csv"))), "--images", str(data / "images"),
                    "--split-from", str(data / "nih_images.csv"), "--size", "64", "--out", str(out),
                    "--id-salt", "nih-small-benchmark-salt"], check=True)


def pixels(dataset, split: str, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    from cxrtrain.data import label_matrix

    rows = dataset[split]
    x = np.stack([np.asarray(image.convert("L"), dtype=np.float32).ravel() / 255 for image in rows["image"]])
    return x, label_matrix(rows, n_labels).astype(int)


def logreg_baseline(dataset_dir: Path) -> dict:
    """One-vs-rest logistic regression on standardised raw pixels; C picked on the validation mean AUC."""
    from datasets import load_from_disk
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cxrtrain.metrics import Selection, bootstrap_auc_intervals, label_auc, mean_auc

    dataset = load_from_disk(str(dataset_dir))
    names = dataset["train"].features["labels"].feature.names
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (pixels(dataset, s, len(names))
                                                                 for s in ("train", "validation", "test"))
    trainable = y_train.sum(axis=0) > 0
    chosen, best = None, -1.0
    for c in (1e-4, 1e-3, 1e-2, 1e-1):
        model = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000)))
        model.fit(x_train, y_train[:, trainable])
        scores = np.full(y_valid.shape, 0.5)
        scores[:, trainable] = model.predict_proba(x_valid)
        value = mean_auc(y_valid, scores, Selection.of(y_valid, MIN_POSITIVES).labels)
        if value is not None and value > best:
            chosen, best = (c, model), value
    c, model = chosen
    scores = np.full(y_test.shape, 0.5)
    scores[:, trainable] = model.predict_proba(x_test)
    selection = Selection.of(y_test, MIN_POSITIVES)
    _, interval = bootstrap_auc_intervals(y_test, scores, selection.labels)
    return {"mean_auc": mean_auc(y_test, scores, selection.labels), "ci95": interval, "C": c,
            "validation_mean_auc": best,
            "labels": {names[k]: label_auc(y_test, scores, k) for k in selection.labels}}


def train_recipe(name: str, dataset: Path, tmp: Path, epochs: int, seeds: int) -> dict:
    """Fit `name` once per seed, score each seed and the seeds' ensemble (validation and test)."""
    runs, single = [], []
    for seed in range(seeds):
        out = tmp / f"{name}-seed{seed}"
        failure = run([sys.executable, "-m", "cxrtrain", "fit", str(dataset), "--out", str(out), "--recipe", name,
                       *COMMON, "--epochs", str(epochs), "--seed", str(seed), *RECIPE_OVERRIDES[name]])
        if failure:
            return {"error": failure.strip().splitlines()[-1]}
        run([sys.executable, "-m", "cxrtrain", "evaluate", str(out), "--min-positives", str(MIN_POSITIVES)])
        metrics = json.loads((out / "metrics.json").read_text())
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        single.append({"seed": seed, "mean_auc": metrics["mean_auc"], "ci95": metrics["mean_auc_ci95"],
                       "best_validation_auc": max(r["val_selection_auc"] or 0 for r in log), "epochs_run": len(log)})
        runs.append(out)
    scored = {}
    for split in ("validation", "test"):
        out = tmp / f"{name}-ensemble-{split}"
        run([sys.executable, "-m", "cxrtrain", "evaluate", *map(str, runs), "--out", str(out), "--split", split,
             "--min-positives", str(MIN_POSITIVES)])
        scored[split] = json.loads((out / "metrics.json").read_text())
    metrics = scored["test"]
    return {"mean_auc": metrics["mean_auc"], "ci95": metrics["mean_auc_ci95"],
            "labels": {label: metrics["labels"][label]["auc"] for label in metrics["mean_auc_labels"]},
            "mean_top3_sensitivity": float(np.mean([metrics["labels"][label]["top3_sensitivity"]
                                                    for label in metrics["mean_auc_labels"]])),
            "crops": metrics["crops"], "validation_mean_auc": scored["validation"]["mean_auc"],
            "seeds": single, "single_seed_mean_auc": float(np.mean([seed["mean_auc"] for seed in single])),
            "config": json.loads((runs[0] / "config.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the nih_cxr14 folder")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per recipe (early stop after 5 stale)")
    parser.add_argument("--recipes", default=",".join(RECIPE_OVERRIDES), help="comma-separated recipe names")
    parser.add_argument("--seeds", type=int, default=3, help="runs per recipe (seeds 0..N-1), scored as an ensemble")
    args = parser.parse_args()
    started = time.perf_counter()
    result = {"recipes": {}, "settings": {"common": [*COMMON, "--epochs", str(args.epochs)],
                                          "per_recipe": RECIPE_OVERRIDES, "min_positives": MIN_POSITIVES,
                                          "seeds": args.seeds}}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "nih64"
        build(args.data, dataset)
        for name in args.recipes.split(","):
            print(f"recipe {name}", flush=True)
            result["recipes"][name] = train_recipe(name, dataset, Path(tmp), args.epochs, args.seeds)
        print("logistic regression on pixels", flush=True)
        result["baseline_logreg"] = logreg_baseline(dataset)
    trained = {name: r for name, r in result["recipes"].items() if "mean_auc" in r}
    result["default_recipe"] = max(trained, key=lambda name: trained[name]["validation_mean_auc"]) if trained else None
    result["seconds"] = round(time.perf_counter() - started)
    args.json.write_text(json.dumps(result, indent=2))
    for name, r in result["recipes"].items():
        print(f"{name}: " + (f"ensemble test mean AUC {r['mean_auc']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}], "
                             f"validation {r['validation_mean_auc']:.3f}; single seeds "
                             + ", ".join(f"{seed['mean_auc']:.3f}" for seed in r["seeds"])
                             if "mean_auc" in r else r["error"]))
    print(f"logistic regression on pixels: test mean AUC {result['baseline_logreg']['mean_auc']:.3f}")
    print(f"default recipe (best validation AUC): {result['default_recipe']}; {result['seconds']} s → {args.json}")


if __name__ == "__main__":
    main()
