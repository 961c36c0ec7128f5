"""Each `cxrtrain fit --recipe` and a logistic-regression pixel baseline on the NIH ChestX-ray14 64 px set.

    python benchmarks/nih_small.py --data ../shared/data/nih_cxr14 --json OUT.json

The source's test split (200 images) is kept as given and scores only. The source's train and valid images (800)
are pooled and cut into K patient-grouped folds (--folds, default 3; sklearn GroupKFold): fold k is a dataset built
through the documented CLI (`cxrlabel build`, NIH layout, `--split-from` a split CSV with fold k as the validation
split, the others as train, the source's test split as test). Every recipe is trained on every fold through
`cxrtrain fit` with small-CPU overrides (--backbone, --resize/--crop, --epochs; random init), so each of the 800
images is scored once by a model that did not train on it. The recipes are ranked by that out-of-fold mean AUC
(labels with ≥ 5 positives among the 800), four times the images of the source's valid split, which could not rank
them. The K fold models of a recipe are then scored on the test split as an ensemble (`cxrtrain evaluate RUN ...
--dataset --out`: mean AUC over labels with ≥ 5 test positives, bootstrap 95 % interval). One-vs-rest logistic
regression on the raw pixels is the baseline, treated alike (C chosen by its out-of-fold mean AUC, the K fold
models averaged on test). Writes {"default_recipe", "recipes": {NAME: {"mean_auc", "ci95", "labels",
"out_of_fold_mean_auc", "folds", ...}}, "baseline_logreg": {"mean_auc", ...}, "settings"}.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cxrtrain.recipes import DEFAULT_RECIPE

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


def build(data: Path, out: Path, split_from: Path) -> None:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "cxrlabel"), "build", "--labels",
                    str(next(data.glob("Data_Entry_2017*.csv"))), "--images", str(data / "images"),
                    "--split-from", str(split_from), "--size", "64", "--out", str(out),
                    "--id-salt", "nih-small-benchmark-salt"], check=True, capture_output=True)
    print(f"  cxrlabel build {out.name} in {time.perf_counter() - started:.0f} s", flush=True)


def fold_split_files(data: Path, folds: int, tmp: Path) -> list[Path]:
    """One split CSV per fold: the source's train + valid images cut into `folds` groups by patient (an NIH file
    name starts with the patient number); fold k is the validation split, the rest train, the source's test kept."""
    from sklearn.model_selection import GroupKFold

    with (data / "nih_images.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    pool = [row["image_filename"] for row in rows if row["source_split"] != "test"]
    test = [row["image_filename"] for row in rows if row["source_split"] == "test"]
    patients = [name.split("_")[0] for name in pool]
    paths = []
    for k, (_, held_out) in enumerate(GroupKFold(n_splits=folds).split(pool, groups=patients)):
        validation = {pool[i] for i in held_out}
        path = tmp / f"fold{k}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image_filename", "split"])
            writer.writerows([name, "validation" if name in validation else "train"] for name in pool)
            writer.writerows([name, "test"] for name in test)
        paths.append(path)
    return paths


def source_split_file(data: Path, tmp: Path) -> Path:
    path = tmp / "source.csv"
    with (data / "nih_images.csv").open(encoding="utf-8") as handle, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["image_filename", "split"])
        writer.writerows([row["image_filename"], row["source_split"]] for row in csv.DictReader(handle))
    return path


def validation_scores(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The run's best checkpoint on its own validation split (its held-out fold), in its own test crop mode."""
    from cxrtrain.data import SkipLog
    from cxrtrain.evaluate import load_run, split_scores
    from cxrtrain.train import device_for_run

    device = device_for_run()
    model, checkpoint = load_run(run_dir, device, writes_here=False)
    crops = checkpoint["config"]["prep"].get("test_crops", "center")
    scores, targets, _ = split_scores(model, checkpoint, "validation", None, device, crops, SkipLog())
    return scores, targets


def out_of_fold(scores: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """Mean AUC (labels with ≥ MIN_POSITIVES positives) and its bootstrap interval over the pooled held-out folds."""
    from cxrtrain.metrics import Selection, bootstrap_auc_intervals, mean_auc

    pooled_scores, pooled_targets = np.concatenate(scores), np.concatenate(targets)
    selection = Selection.of(pooled_targets, MIN_POSITIVES)
    _, interval = bootstrap_auc_intervals(pooled_targets, pooled_scores, selection.labels)
    return {"mean_auc": mean_auc(pooled_targets, pooled_scores, selection.labels), "ci95": interval,
            "n_images": int(len(pooled_targets)), "n_labels": len(selection.labels)}


def pixels(dataset, split: str, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    from cxrtrain.data import label_matrix

    rows = dataset[split]
    x = np.stack([np.asarray(image.convert("L"), dtype=np.float32).ravel() / 255 for image in rows["image"]])
    return x, label_matrix(rows, n_labels).astype(int)


def logreg_baseline(fold_dirs: list[Path]) -> dict:
    """One-vs-rest logistic regression on standardised raw pixels: C chosen by the out-of-fold mean AUC, the fold
    models' probabilities averaged on the test split."""
    from datasets import load_from_disk
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cxrtrain.metrics import Selection, bootstrap_auc_intervals, label_auc, mean_auc

    folds = [load_from_disk(str(path)) for path in fold_dirs]
    names = folds[0]["train"].features["labels"].feature.names
    data = [{split: pixels(fold, split, len(names)) for split in ("train", "validation", "test")} for fold in folds]

    def fit_model(x_train: np.ndarray, y_train: np.ndarray, c: float):
        trainable = y_train.sum(axis=0) > 0
        model = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000)))
        return model.fit(x_train, y_train[:, trainable]), trainable

    def score(fitted, x: np.ndarray, n_images: int) -> np.ndarray:
        model, trainable = fitted
        scores = np.full((n_images, len(names)), 0.5)
        scores[:, trainable] = model.predict_proba(x)
        return scores

    def fit_score(fold: dict, c: float) -> tuple[np.ndarray, np.ndarray]:
        """The fold model's scores on its validation (held-out) and test splits."""
        fitted = fit_model(*fold["train"], c)
        return tuple(score(fitted, fold[split][0], len(fold[split][1])) for split in ("validation", "test"))

    (x_test, y_test), selection = data[0]["test"], Selection.of(data[0]["test"][1], MIN_POSITIVES)
    x_all, y_all = (np.concatenate([data[0]["train"][k], data[0]["validation"][k]]) for k in (0, 1))
    chosen, best, by_c = None, None, {}
    for c in (1e-4, 1e-3, 1e-2, 1e-1):
        scored = [fit_score(fold, c) for fold in data]
        held_out = out_of_fold([validation for validation, _ in scored], [fold["validation"][1] for fold in data])
        fold_models = np.mean([test for _, test in scored], axis=0)
        one_model = score(fit_model(x_all, y_all, c), x_test, len(y_test))
        by_c[str(c)] = {"out_of_fold_mean_auc": held_out["mean_auc"],  # reported only: the test split chooses nothing
                        "test_mean_auc_fold_models": mean_auc(y_test, fold_models, selection.labels),
                        "test_mean_auc_one_model_on_800": mean_auc(y_test, one_model, selection.labels)}
        if best is None or held_out["mean_auc"] > best["mean_auc"]:
            chosen, best, scores = c, held_out, fold_models
    _, interval = bootstrap_auc_intervals(y_test, scores, selection.labels)
    return {"mean_auc": mean_auc(y_test, scores, selection.labels), "ci95": interval, "C": chosen,
            "out_of_fold_mean_auc": best["mean_auc"], "out_of_fold_ci95": best["ci95"],
            "labels": {names[k]: label_auc(y_test, scores, k) for k in selection.labels}, "by_C": by_c}


def train_recipe(name: str, fold_dirs: list[Path], test_dataset: Path, tmp: Path, epochs: int) -> dict:
    """Fit `name` on every fold, pool the held-out folds' scores, score the fold models' ensemble on the test split."""
    runs, folds, held_scores, held_targets = [], [], [], []
    for k, dataset in enumerate(fold_dirs):
        out = tmp / f"{name}-fold{k}"
        failure = run([sys.executable, "-m", "cxrtrain", "fit", str(dataset), "--out", str(out), "--recipe", name,
                       *COMMON, "--epochs", str(epochs), "--seed", str(k), *RECIPE_OVERRIDES[name]])
        if failure:
            return {"error": failure.strip().splitlines()[-1]}
        scores, targets = validation_scores(out)
        held_scores.append(scores)
        held_targets.append(targets)
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        folds.append({"fold": k, "seed": k, "validation_images": int(len(targets)), "epochs_run": len(log),
                      "best_validation_auc": max(r["val_selection_auc"] or 0 for r in log)})
        runs.append(out)
    held_out = out_of_fold(held_scores, held_targets)
    out = tmp / f"{name}-ensemble-test"
    run([sys.executable, "-m", "cxrtrain", "evaluate", *map(str, runs), "--dataset", str(test_dataset),
         "--out", str(out), "--split", "test", "--min-positives", str(MIN_POSITIVES)])
    metrics = json.loads((out / "metrics.json").read_text())
    return {"mean_auc": metrics["mean_auc"], "ci95": metrics["mean_auc_ci95"],
            "labels": {label: metrics["labels"][label]["auc"] for label in metrics["mean_auc_labels"]},
            "mean_top3_sensitivity": float(np.mean([metrics["labels"][label]["top3_sensitivity"]
                                                    for label in metrics["mean_auc_labels"]])),
            "crops": metrics["crops"], "out_of_fold_mean_auc": held_out["mean_auc"],
            "out_of_fold_ci95": held_out["ci95"], "out_of_fold_images": held_out["n_images"],
            "out_of_fold_labels": held_out["n_labels"], "folds": folds,
            "config": json.loads((runs[0] / "config.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the nih_cxr14 folder")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per fit (early stop after 5 stale)")
    parser.add_argument("--recipes", default=",".join(RECIPE_OVERRIDES),
                        help="comma-separated recipe names ('' for the pixel baseline alone)")
    parser.add_argument("--folds", type=int, default=3, help="patient-grouped folds of the source's train + valid")
    args = parser.parse_args()
    started = time.perf_counter()
    result = {"recipes": {}, "settings": {"common": [*COMMON, "--epochs", str(args.epochs)],
                                          "per_recipe": RECIPE_OVERRIDES, "min_positives": MIN_POSITIVES,
                                          "folds": args.folds}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        test_dataset = tmp / "nih64-source-split"
        build(args.data, test_dataset, source_split_file(args.data, tmp))
        fold_dirs = []
        for k, split_file in enumerate(fold_split_files(args.data, args.folds, tmp)):
            fold_dirs.append(tmp / f"nih64-fold{k}")
            build(args.data, fold_dirs[-1], split_file)
        for name in filter(None, args.recipes.split(",")):
            print(f"recipe {name}", flush=True)
            result["recipes"][name] = train_recipe(name, fold_dirs, test_dataset, tmp, args.epochs)
        print("logistic regression on pixels", flush=True)
        baseline_started = time.perf_counter()
        result["baseline_logreg"] = logreg_baseline(fold_dirs)
        result["baseline_logreg"]["seconds"] = round(time.perf_counter() - baseline_started)
    trained = {name: r for name, r in result["recipes"].items() if "mean_auc" in r}
    result["default_recipe"] = (max(trained, key=lambda name: trained[name]["out_of_fold_mean_auc"]) if trained
                                else None)
    result["cxrtrain_default_recipe"] = DEFAULT_RECIPE
    result["seconds"] = round(time.perf_counter() - started)
    args.json.write_text(json.dumps(result, indent=2))
    for name, r in result["recipes"].items():
        print(f"{name}: " + (f"out-of-fold mean AUC {r['out_of_fold_mean_auc']:.3f}; fold ensemble test mean AUC "
                             f"{r['mean_auc']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
                             if "mean_auc" in r else r["error"]))
    baseline = result["baseline_logreg"]
    print(f"logistic regression on pixels: out-of-fold {baseline['out_of_fold_mean_auc']:.3f}; test mean AUC "
          f"{baseline['mean_auc']:.3f}")
    for c, figures in baseline["by_C"].items():
        print(f"  C={c}: out of fold {figures['out_of_fold_mean_auc']:.3f}; test, fold models "
              f"{figures['test_mean_auc_fold_models']:.3f}, one model on all 800 "
              f"{figures['test_mean_auc_one_model_on_800']:.3f}")
    print(f"default recipe (best out-of-fold AUC): {result['default_recipe']}; {result['seconds']} s → {args.json}")
    if result["default_recipe"] != DEFAULT_RECIPE:
        print(f"note: cxrtrain fit's default recipe is {DEFAULT_RECIPE} (cxrtrain/recipes.py), not this run's pick")


if __name__ == "__main__":
    main()
