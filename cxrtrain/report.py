"""`cxrtrain report`: one self-contained HTML page of a run folder — the run's settings and training curve, the
per-class AUC table with its 95 % intervals, the ROC curves, the localisation table and a grid of heatmap overlays.

Images are embedded as base64 data: URIs and the style is inline, so the page opens from a file:// URL with no
network. A piece not made yet (no `cxrtrain evaluate`, no `cxrtrain heatmap`) is named on the page with the
command that makes it."""

from __future__ import annotations

import base64
import io
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from cxrlabel.errors import UserError


@dataclass(frozen=True)
class AucRow:
    """One class of metrics.json, with its Youden threshold from thresholds.json (None when not stored)."""

    label: str
    auc: float | None
    ci95: list[float] | None
    support: int
    negatives: int
    sensitivity: float | None
    specificity: float | None
    top3: float | None
    threshold: float | None


@dataclass(frozen=True)
class Heatmap:
    """One overlay of RUN/heatmaps/ (named `<image>_<label>.png` by `cxrtrain heatmap`), as a data: URI."""

    image: str
    label: str
    uri: str
    file: str


@dataclass
class Page:
    """What the template shows; `missing` holds, per section, the sentence naming the command that makes it, and
    `notes` what the reader should know about a section's files (older than best.pt, damaged, rows left out)."""

    run: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    curve: str | None = None
    metrics: dict | None = None
    in_mean: list[AucRow] = field(default_factory=list)
    excluded: list[AucRow] = field(default_factory=list)
    roc: str | None = None
    localisation: dict | None = None
    heatmaps: list[Heatmap] = field(default_factory=list)
    heatmaps_total: int = 0
    max_heatmaps: int = 0
    notes: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def note(self, section: str, text: str) -> None:
        self.notes.setdefault(section, []).append(text)


def read_json(path: Path) -> dict | None:
    """A JSON file of the run (None when absent); a broken one is a user error naming file:line."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); rerun the command that wrote it") from exc


def read_log(path: Path) -> list[dict]:
    """train_log.jsonl's epoch records (empty when absent)."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return records


def data_uri(content: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


OVERLAY_JPEG_QUALITY = 90  # a 712 x 540 overlay of a 1024-px X-ray: ~330 KB as drawn (PNG), ~50 KB as JPEG


def overlay_uri(path: Path) -> str:
    """An overlay as a data: URI, re-encoded as JPEG when that is smaller than the PNG (X-rays: about 7 times;
    flat, tiny images stay PNG); the file itself is not changed."""
    from PIL import Image

    drawn = path.read_bytes()
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(drawn)) as image:
        image.convert("RGB").save(buffer, "JPEG", quality=OVERLAY_JPEG_QUALITY)
    smaller = buffer.getvalue()
    return data_uri(smaller, "image/jpeg") if len(smaller) < len(drawn) else data_uri(drawn)


def best_epoch(log: list[dict]) -> dict | None:
    """The record `fit` saved as best.pt: the first epoch with the highest validation selection AUC (the first
    epoch when none has an AUC)."""
    scored = [r for r in log if r.get("val_selection_auc") is not None]
    if scored:
        return max(scored, key=lambda r: (r["val_selection_auc"], -r["epoch"]))
    return log[0] if log else None


def training_curve(log: list[dict], best: dict | None) -> str:
    """Training loss and validation mean AUC per epoch (PNG data: URI), the best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in log]
    figure, loss_axis = plt.subplots(figsize=(6, 2.8))
    loss_axis.plot(epochs, [r.get("train_loss") for r in log], "o-", color="tab:blue", label="training loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    auc_axis = loss_axis.twinx()
    auc_axis.plot(epochs, [r.get("val_selection_auc") for r in log], "s-", color="tab:orange",
                  label="validation mean AUC (selection labels)")
    auc_axis.plot(epochs, [r.get("val_mean_auc") for r in log], ":", color="tab:orange",
                  label="validation mean AUC (all labels)")
    auc_axis.set_ylabel("validation AUC", color="tab:orange")
    if best is not None:
        loss_axis.axvline(best["epoch"], color="grey", linestyle="--", linewidth=0.8)
    loss_axis.xaxis.get_major_locator().set_params(integer=True)
    figure.legend(fontsize=7, loc="upper center", ncol=3, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return data_uri(buffer.getvalue())


def run_facts(config: dict | None, log: list[dict], metrics: dict | None) -> list[tuple[str, str]]:
    """The run summary rows: settings from config.json, epochs and best epoch from train_log.jsonl."""
    facts = []
    if config:
        prep = config.get("prep", {})
        facts += [("recipe", config.get("recipe") or "none (options as given)"),
                  ("backbone", f"{config.get('backbone')} (weights: {config.get('pretrained')})"),
                  ("backbone note", config.get("backbone_note", "")),
                  ("head", f"transition {config.get('transition')}, pool {config.get('pool')}, "
                           f"loss {config.get('loss')}"),
                  ("optimiser", f"{config.get('optimizer')}, lr {config.get('lr')}, {config.get('schedule')} "
                                f"schedule, batch {config.get('batch_size')} × accumulate {config.get('accumulate')}"),
                  ("images", f"resize {prep.get('resize')}, crop {prep.get('crop')}"
                             + (", random left-right flip" if prep.get("flip") else "")),
                  ("dataset", config.get("dataset", "")),
                  ("labels", ", ".join(config.get("label_names", [])))]
    if log:
        planned = (config or {}).get("epochs")
        trained = f"{len(log)} of {planned}" if planned else f"{len(log)}"
        facts.append(("epochs trained", trained + (" (early stop)" if planned and len(log) < planned else "")))
        best = best_epoch(log)
        auc = best.get("val_selection_auc")
        facts.append(("best epoch (best.pt)", f"{best['epoch']}" + (
            f" — validation mean AUC {auc:.4f} over {len(best.get('val_selection_labels', []))} labels"
            if auc is not None else " — no validation AUC")))
    if metrics and metrics.get("members"):
        facts.append(("ensemble of", ", ".join(metrics["members"])))
    return facts


def auc_rows(metrics: dict, thresholds: dict | None) -> tuple[list[AucRow], list[AucRow]]:
    """The classes in the mean AUC and those left out of it (too few positives), in metrics.json's order."""
    cuts = (thresholds or {}).get("thresholds", {})
    rows = [AucRow(name, row.get("auc"), row.get("ci95"), row.get("support", 0),
                   metrics.get("n_images", 0) - row.get("support", 0), row.get("sensitivity"),
                   row.get("specificity"), row.get("top3_sensitivity"), cuts.get(name))
            for name, row in metrics.get("labels", {}).items()]
    left_out = set(metrics.get("labels_below_min_positives", []))
    return [r for r in rows if r.label not in left_out], [r for r in rows if r.label in left_out]


def heatmap_name(stem: str, labels: list[str]) -> tuple[str, str]:
    """(image, label) of an overlay file stem `<image>_<label>`; the longest label that ends the stem wins."""
    for label in sorted(labels, key=len, reverse=True):
        suffix = "_" + label.replace("/", "_")
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)], label
    return stem, ""


def collect_heatmaps(run_dir: Path, labels: list[str], max_heatmaps: int, page: Page) -> None:
    """Up to `max_heatmaps` overlays of RUN/heatmaps/ (by file name) into the page, with notes on boxes not used,
    unreadable images and overlays older than best.pt."""
    folder = run_dir / "heatmaps"
    files = sorted(folder.glob("*.png")) if folder.is_dir() else []
    page.heatmaps_total, page.max_heatmaps = len(files), max_heatmaps
    for path in files[:max_heatmaps]:
        image, label = heatmap_name(path.stem, labels)
        try:
            page.heatmaps.append(Heatmap(image, label, overlay_uri(path), path.name))
        except OSError as exc:  # PIL's UnidentifiedImageError included: a damaged file is named, the rest shown
            page.note("heatmaps", f"heatmaps/{path.name} could not be read ({exc.__class__.__name__}); not shown.")
    older = [path for path in files if predates_model(run_dir, path)]
    if older:
        page.note("heatmaps", f"{len(older)} overlay(s) were drawn before the current best.pt was saved (an earlier "
                              f"training); rerun `{command('heatmap', run_dir)}` to redraw them.")
    for name, what in (("boxes_dropped.csv", "gold box(es) not used"), ("errors.csv", "image(s) unreadable")):
        listed = folder / name
        if listed.is_file():
            count = max(len(listed.read_text(encoding="utf-8").splitlines()) - 1, 0)
            page.note("heatmaps", f"{count} {what}, with the reason, in heatmaps/{name}.")


def predates_model(run_dir: Path, path: Path) -> bool:
    """Whether `path` was written before the run's best.pt (so by an earlier training's model)."""
    best = run_dir / "best.pt"
    return best.is_file() and path.stat().st_mtime < best.stat().st_mtime


def command(name: str, run_dir: Path) -> str:
    """The command line that makes a missing piece."""
    run = shlex.quote(str(run_dir))
    return {"fit": "cxrtrain fit DATASET --out " + run,
            "evaluate": f"cxrtrain evaluate {run} --split test",
            "heatmap": f"cxrtrain heatmap {run} test --bbox BOXES.csv"}[name]


def is_run(run_dir: Path) -> bool:
    return any((run_dir / name).is_file() for name in ("config.json", "train_log.jsonl", "best.pt", "metrics.json"))


def build_page(run_dir: Path, max_heatmaps: int) -> Page:
    """Read what fit / evaluate / heatmap left in `run_dir`."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such folder")
    if not is_run(run_dir):
        raise UserError(f"{run_dir}: not a cxrtrain run folder (no config.json, train_log.jsonl, best.pt or "
                        "metrics.json; make one with `cxrtrain fit DATASET --out RUN`)")
    config, metrics = read_json(run_dir / "config.json"), read_json(run_dir / "metrics.json")
    log = read_log(run_dir / "train_log.jsonl")
    page = Page(run=str(run_dir), facts=run_facts(config, log, metrics), metrics=metrics)
    if log:
        page.curve = training_curve(log, best_epoch(log))
    elif not (metrics and metrics.get("members")):
        page.missing["summary"] = f"No train_log.jsonl: train with `{command('fit', run_dir)}`."
    if config is None and log:
        page.missing["summary"] = "No config.json: `cxrtrain fit` has not finished (or was interrupted); " \
                                  f"continue it with `cxrtrain fit DATASET --out {shlex.quote(str(run_dir))} --resume`."
    if metrics is None:
        page.missing["metrics"] = f"Not evaluated yet: run `{command('evaluate', run_dir)}` for the per-class AUC " \
                                  "table, the thresholds and the ROC curves."
    else:
        page.in_mean, page.excluded = auc_rows(metrics, read_json(run_dir / "thresholds.json"))
        if predates_model(run_dir, run_dir / "metrics.json"):
            page.note("metrics", "metrics.json was written before the current best.pt was saved (training went on "
                                 f"with --resume); rerun `{command('evaluate', run_dir)}`.")
        roc = run_dir / "roc.png"
        if roc.is_file():
            page.roc = data_uri(roc.read_bytes())
        else:
            page.missing["roc"] = f"No roc.png: run `{command('evaluate', run_dir)}`."
    page.localisation = read_json(run_dir / "localisation.json")
    members = (metrics or {}).get("members")
    drawn_by = "" if (run_dir / "best.pt").is_file() or not members else \
        " on a member run (an ensemble's folder has no model of its own to draw with), then `cxrtrain report` that run"
    draw = command("heatmap", Path(members[0]) if drawn_by else run_dir)
    if page.localisation is None:
        page.missing["localisation"] = f"No localisation.json: run `{draw}` with the gold boxes{drawn_by}."
    labels = (config or {}).get("label_names") or list((metrics or {}).get("labels", {}))
    collect_heatmaps(run_dir, labels, max_heatmaps, page)
    if not page.heatmaps_total:
        page.missing["heatmaps"] = f"No heatmaps yet: run `{draw}` (or without --bbox for the top-scoring labels " \
                                   f"of each image){drawn_by}."
    return page


def localisation_rows(report: dict) -> list[dict]:
    """One table per heatmap threshold: the classes, and per overlap measure and T the accuracy / AFP cells."""
    tables = []
    for cut, table in report.items():
        classes = sorted({label for row in table.values() for label in row})
        first = next(iter(table.values()), {})
        rows = [(key.replace("iobb>=", "T(IoBB) = ").replace("iou>=", "T(IoU) = "),
                 [row.get(c) for c in classes]) for key, row in table.items()]
        tables.append({"cut": cut, "classes": classes, "images": [first.get(c, {}).get("images") for c in classes],
                       "rows": rows})
    return tables


def number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def code_spans(text: str):
    """`text` escaped, its `backquoted` parts (commands) in <code>."""
    from markupsafe import Markup

    return Markup("").join(Markup("<code>{}</code>").format(part) if k % 2 else part
                           for k, part in enumerate(text.split("`")))


def render(page: Page) -> str:
    """The page as one HTML string (jinja2, autoescaped)."""
    from jinja2 import Environment

    environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    environment.filters["num"] = number
    environment.filters["code"] = code_spans
    return environment.from_string(TEMPLATE).render(page=page, localisation=localisation_rows(page.localisation or {}))


def write_report(run_dir: Path, out: Path | None = None, max_heatmaps: int = 48) -> dict:
    """Write the page (default RUN/report.html); returns where, its size and the heatmaps shown / found."""
    if max_heatmaps < 0:
        raise UserError("--max-heatmaps is at least 0")
    page = build_page(run_dir, max_heatmaps)
    out = out or run_dir / "report.html"
    try:
        out.write_text(render(page), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write the report ({exc.strerror or exc})") from exc
    return {"out": str(out), "bytes": out.stat().st_size, "heatmaps": len(page.heatmaps),
            "heatmaps_total": page.heatmaps_total, "missing": list(page.missing.values())}


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cxrtrain run {{ page.run }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child, table.facts td { text-align: left; }
thead th { background: #f2f2f2; }
tr.excluded td { color: #777; }
tbody.excluded th { text-align: left; background: #fafafa; font-weight: normal; font-style: italic; }
tfoot td { font-weight: bold; }
p.note { background: #eef4ff; border-left: 4px solid #4a7bd0; padding: 0.4em 0.8em; }
p.missing { background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.4em 0.8em; }
code { background: #f4f4f4; padding: 0 0.2em; }
#heatmap-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 0.8em; }
figure { margin: 0; } figure img { width: 100%; height: auto; } figcaption { font-size: 0.85em; }
#roc img { max-width: 640px; width: 100%; } figure.curve img { max-width: 600px; }
</style>
</head>
<body>
<h1>cxrtrain run <code>{{ page.run }}</code></h1>

<section id="summary">
<h2>Run</h2>
{% if page.facts %}
<table class="facts">
{% for name, value in page.facts %}
<tr><th>{{ name }}</th><td>{{ value }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if page.curve %}
<figure class="curve"><img src="{{ page.curve }}" alt="training loss and validation AUC per epoch">
<figcaption>Training loss (blue) and validation mean AUC (orange; solid: the labels that select best.pt,
dotted: all labels) per epoch; the dashed line is the best epoch.</figcaption></figure>
{% endif %}
{% if page.missing.summary %}<p class="missing">{{ page.missing.summary|code }}</p>{% endif %}
</section>

<section id="metrics">
<h2>Per-class AUC</h2>
{% if page.metrics %}
{% set m = page.metrics %}
{% for note in page.notes.metrics %}<p class="note">{{ note|code }}</p>{% endfor %}
<p id="scored">{{ m.split }} split: {{ m.n_images }} images ({{ m.crops }} crop){% if m.skipped_rows %},
{{ m.skipped_rows }} unreadable row(s) left out (evaluate_errors.csv){% endif %}. Mean AUC
<strong>{{ m.mean_auc|num }}</strong>{% if m.mean_auc_ci95 %} (95 % interval {{ m.mean_auc_ci95[0]|num }} –
{{ m.mean_auc_ci95[1]|num }}){% endif %} over {{ m.mean_auc_labels|length }} classes with ≥ {{ m.min_positives }}
positives{% if m.mean_auc_fallback %} (none has that many: the mean is over every class with an AUC){% endif %};
over all classes with an AUC {{ m.mean_auc_all_labels|num }}; mean per-image average precision
{{ m.mean_average_precision|num }}.{% if m.bootstrap %} Intervals: {{ m.bootstrap.interval }} of
{{ m.bootstrap.resamples }} bootstrap resamples of the images (seed {{ m.bootstrap.seed }}).{% endif %}</p>
<p id="thresholds">Thresholds: {% if m.thresholds %}{{ m.thresholds.description }}{% else %}not recorded in
metrics.json{% endif %}. Sensitivity and specificity are at that threshold (thresholds.json).</p>
<table id="auc">
<thead><tr><th>class</th><th>AUC</th><th>95 % interval</th><th>positives</th><th>negatives</th>
<th>sensitivity</th><th>specificity</th><th>threshold</th><th>top-3 sensitivity</th></tr></thead>
{% macro auc_row(row, kind) %}
<tr data-label="{{ row.label }}" class="{{ kind }}"><td>{{ row.label }}</td><td class="auc">{{ row.auc|num }}</td>
{% if row.ci95 %}<td class="ci95" data-low="{{ row.ci95[0] }}" data-high="{{ row.ci95[1] }}">{{ row.ci95[0]|num }} –
{{ row.ci95[1]|num }}</td>{% else %}<td class="ci95">—</td>{% endif %}
<td class="positives">{{ row.support }}</td><td class="negatives">{{ row.negatives }}</td>
<td>{{ row.sensitivity|num }}</td><td>{{ row.specificity|num }}</td><td class="threshold">{{ row.threshold|num }}</td>
<td>{{ row.top3|num }}</td></tr>
{% endmacro %}
<tbody>
{% for row in page.in_mean %}{{ auc_row(row, "in-mean") }}{% endfor %}
</tbody>
{% if page.excluded %}
<tbody class="excluded">
<tr><th colspan="9">fewer than {{ m.min_positives }} positives — not in the mean</th></tr>
{% for row in page.excluded %}{{ auc_row(row, "excluded") }}{% endfor %}
</tbody>
{% endif %}
<tfoot><tr><td>mean ({{ m.mean_auc_labels|length }} classes)</td><td>{{ m.mean_auc|num }}</td>
<td>{% if m.mean_auc_ci95 %}{{ m.mean_auc_ci95[0]|num }} – {{ m.mean_auc_ci95[1]|num }}{% else %}—{% endif %}</td>
<td colspan="6"></td></tr></tfoot>
</table>
<p id="excluded">Not in the mean (fewer than {{ m.min_positives }} positives in the split):
{% if page.excluded %}{{ page.excluded|map(attribute="label")|join(", ") }}{% else %}none{% endif %}.</p>
{% else %}
<p class="missing">{{ page.missing.metrics|code }}</p>
{% endif %}
</section>

<section id="roc">
<h2>ROC curves</h2>
{% if page.roc %}<img src="{{ page.roc }}" alt="ROC curve of each class">
{% else %}<p class="missing">{{ (page.missing.roc or page.missing.metrics)|code }}</p>{% endif %}
</section>

<section id="localisation">
<h2>Localisation (gold boxes)</h2>
{% if localisation %}
<p>Per heatmap threshold: the share of gold boxes hit by a box of the thresholded heatmap with overlap ≥ T, and
the average false positive boxes per image (accuracy / AFP).</p>
{% for table in localisation %}
<table class="localisation" data-cut="{{ table.cut }}">
<thead><tr><th>{{ table.cut }}</th>{% for c in table.classes %}<th>{{ c }}</th>{% endfor %}</tr>
<tr><th>images with a gold box</th>{% for n in table.images %}<td>{{ n }}</td>{% endfor %}</tr></thead>
<tbody>
{% for name, cells in table.rows %}
<tr><th>{{ name }}</th>{% for cell in cells %}<td>{% if cell %}{{ cell.accuracy|num }} /
{{ cell.avg_false_positives|num(2) }}{% else %}—{% endif %}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
{% else %}
<p class="missing">{{ page.missing.localisation|code }}</p>
{% endif %}
</section>

<section id="heatmaps">
<h2>Heatmaps</h2>
{% if page.heatmaps_total %}
<p id="heatmap-count">{{ page.heatmaps|length }} of {{ page.heatmaps_total }} overlay(s) of heatmaps/ shown
(by file name{% if page.heatmaps|length < page.heatmaps_total %}; at most {{ page.max_heatmaps }}, set with
--max-heatmaps{% endif %}; as JPEG where smaller, the PNGs in heatmaps/ are unchanged). Each shows the class
activation map, the gold boxes in red and the predicted boxes (the connected regions of the heatmap above each
threshold, in the colours of its legend, which gives each kind's count).</p>
{% for note in page.notes.heatmaps %}<p class="note">{{ note|code }}</p>{% endfor %}
<div id="heatmap-grid">
{% for h in page.heatmaps %}
<figure class="heatmap" data-image="{{ h.image }}" data-label="{{ h.label }}">
<img src="{{ h.uri }}" alt="{{ h.image }} {{ h.label }}" loading="lazy">
<figcaption>{{ h.image }} · {{ h.label }} <small>(heatmaps/{{ h.file }})</small></figcaption>
</figure>
{% endfor %}
</div>
{% else %}
<p class="missing">{{ page.missing.heatmaps|code }}</p>
{% endif %}
</section>
</body>
</html>
"""
