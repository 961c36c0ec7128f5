"""`cxrlabel cluster`: discover label clusters in Chinese diagnoses (edit distance + k-medoids)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def cluster(
    reports: Annotated[Path, typer.Argument(help="Reports (CSV/JSONL with a diagnosis column, or a folder of .txt).")],
    lang: Annotated[str, typer.Option("--lang", help="Only zh is supported.")] = "zh",
    k: Annotated[
        int | None, typer.Option("-k", "--k", min=2, help="Number of clusters; default: best silhouette in --k-range.")
    ] = None,
    k_range: Annotated[str, typer.Option(help="Range searched when -k is not given, as MIN-MAX.")] = "8-30",
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("clusters_out"),
    seed: Annotated[int, typer.Option(help="Random seed of FasterPAM.")] = 0,
    max_distinct: Annotated[int, typer.Option(
        min=3, help="Cluster at most this many distinct clauses (the most frequent; memory grows with its "
        "square); rarer clauses join their nearest medoid.")] = 8000,
) -> None:
    """Cluster the distinct diagnosis clauses and write OUT/clusters.json (id, size in clauses and reports,
    medoid, top members), OUT/clusters.yml (cluster → label mapping to edit, in the shape of
    rules/zh/clusters.yml), OUT/labelset.yml (a label set using that mapping: `cxrlabel mine REPORTS
    --lang zh --labels OUT/labelset.yml`) and OUT/clusters.png / clusters.svg (cluster sizes with their medoid
    text)."""
    from rich.console import Console
    from rich.progress import Progress

    from cxrlabel.errors import UserError, fail
    from cxrlabel.readers import iter_reports
    from cxrlabel.types import Report
    from cxrlabel.zh.cluster import (
        choose_k,
        cluster_clauses,
        collect_clauses,
        distance_matrix,
        frequent_clauses,
        summarise,
        with_rare,
    )

    console = Console(stderr=True)
    if lang != "zh":
        fail("clustering is implemented for --lang zh")
    try:
        low, high = (int(v) for v in k_range.split("-"))
    except ValueError:
        fail(f"--k-range {k_range!r}: give MIN-MAX, e.g. 8-30")
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("reading reports", total=None)
            table = collect_clauses(progress.track(
                (item for item in iter_reports(reports) if isinstance(item, Report)), task_id=task))
    except UserError as exc:
        fail(exc)
    clauses, weights, rare = frequent_clauses(table, max_distinct)
    if len(clauses) < 3:
        fail(f"only {len(clauses)} distinct clauses: nothing to cluster", code=1)
    console.print(f"{sum(table.counts.values())} clauses, {len(table.counts)} distinct"
                  + (f" ({len(clauses)} most frequent clustered)" if rare else "") + "; computing edit distances")
    distances = distance_matrix(clauses)
    silhouettes = {}
    if k is None:
        k, silhouettes = choose_k(clauses, distances, range(low, min(high, len(clauses) - 1) + 1), seed, weights)
        console.print(f"k = {k} (best silhouette {silhouettes[k]:.3f})")
    k = min(k, len(clauses) - 1)
    summary = summarise(with_rare(cluster_clauses(clauses, distances, k, seed, weights), rare), table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "clusters.json").write_text(json.dumps(
        {"k": k, "distinct_clauses": len(table.counts), "clustered_distinct_clauses": len(clauses),
         "silhouette_by_k": silhouettes, "clusters": summary},
        ensure_ascii=False, indent=2))
    mapping = write_mapping(summary, out / "clusters.yml")
    write_label_set(list(mapping), out / "labelset.yml", "clusters.yml")
    font = plot_clusters(summary, out / "clusters.png")
    console.print(f"{k} clusters → {out}/clusters.json, clusters.yml (editable mapping), labelset.yml, "
                  "clusters.png, clusters.svg")
    console.print(f"clusters.png labels the bars with the medoid clauses in the CJK font {font!r}" if font else
                  "no CJK font found here (install one, e.g. Debian's fonts-noto-cjk): clusters.png labels the bars "
                  "'cluster N' only; clusters.svg keeps the medoid clauses as text — open it in a browser",
                  markup=False, highlight=False)


def write_mapping(summary: list[dict], path: Path) -> dict[str, list[str]]:
    """An editable mapping in the shape of rules/zh/clusters.yml: each cluster's members (cue words removed)
    under the label most of its clause occurrences get from the shipped exemplars, or under `ignore`.
    Returns label → members."""
    from collections import Counter

    from cxrlabel.resources import load_yaml
    from cxrlabel.zh.cues import strip_cues
    from cxrlabel.zh.dong import assign, default_mapping

    shipped = load_yaml(default_mapping())
    groups: dict[str, list[tuple[dict, list[str]]]] = {}
    for record in summary:
        votes: Counter = Counter()
        for member in record["top_members"]:
            assignment = assign(member["clause"])
            votes[assignment.label if assignment else "ignore"] += member["count"]
        label = votes.most_common(1)[0][0]
        # exemplars are compared without cue words; normal statements to ignore keep theirs
        members = list(dict.fromkeys((strip_cues(m["clause"]) if label != "ignore" else "") or m["clause"]
                                     for m in record["top_members"]))
        groups.setdefault(label, []).append((record, members))

    def block(items: list[tuple[dict, list[str]]], indent: str) -> list[str]:
        lines = []
        for record, members in items:
            lines.append(f"{indent}# cluster {record['id']}: medoid {record['medoid']} "
                         f"({record['size_clauses']} clauses, {record['size_reports']} reports)")
            lines += [f"{indent}- {json.dumps(m, ensure_ascii=False)}" for m in members]
        return lines

    lines = ["# Cluster → label mapping written by `cxrlabel cluster` (labels suggested from the shipped",
             "# rules/zh/clusters.yml). Edit: rename labels, move clauses between labels or to `ignore`; then",
             "# label with it through labelset.yml (cxrlabel mine REPORTS --lang zh --labels OUT/labelset.yml).",
             f"max_distance: {shipped['max_distance']}",
             f"strip_words: {json.dumps(shipped.get('strip_words', []), ensure_ascii=False)}",
             "labels:"]
    labels = {name: items for name, items in groups.items() if name != "ignore"}
    for name, items in labels.items():
        lines += [f"  {name}:"] + block(items, "    ")
    lines += ["ignore:"] + block(groups.get("ignore", []), "  ")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {name: [m for _, members in items for m in members] for name, items in labels.items()}


def write_label_set(labels: list[str], path: Path, mapping: str) -> None:
    """A label set for the mapping: `normal` (derived) plus one label per mapped name."""
    lines = ["# Label set for the clusters found by `cxrlabel cluster`; edit together with its mapping.",
             f"name: {path.parent.name or 'clusters'}", "lang: zh", "method: clusters", f"mapping: {mapping}",
             "labels:", "  - {name: normal, derived: normal}"] + [f"  - {{name: {name}}}" for name in labels]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cjk_fonts() -> list[str]:
    """Names of the fonts matplotlib knows here that cover Chinese (by family name)."""
    from matplotlib import font_manager

    return [f.name for f in font_manager.fontManager.ttflist
            if any(key in f.name for key in ("CJK", "WenQuanYi", "Hei", "Song", "Noto Sans SC"))]


def plot_clusters(summary: list[dict], path: Path) -> str | None:
    """Horizontal bar chart of cluster sizes labelled with the medoid clause: PATH (PNG) and the same chart
    as SVG beside it. The SVG keeps its text as text, so any viewer with a Chinese font shows the medoids;
    the PNG shows them when matplotlib finds a CJK font here, else cluster ids (medoids in clusters.json).
    Returns the CJK font the PNG was drawn with, None when there is none."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cjk = cjk_fonts()
    sizes = [r["size_clauses"] for r in summary][::-1]
    with_text = [f"{r['id']}: {r['medoid']} ({r['size_reports']} reports)" for r in summary][::-1]
    for target, names, font_type in (
        (path, with_text if cjk else [f"cluster {r['id']}" for r in summary][::-1], "path"),
        (path.with_suffix(".svg"), with_text, "none"),
    ):
        with plt.rc_context({"svg.fonttype": font_type,
                             "font.sans-serif": cjk[:1] + plt.rcParams["font.sans-serif"]}), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # missing CJK glyphs when measuring without a font
            figure, axis = plt.subplots(figsize=(9, 0.45 * len(summary) + 1.5))
            axis.barh(names, sizes, color="#4c72b0")
            axis.set_xlabel("clause occurrences")
            axis.set_title("Diagnosis clause clusters: medoid clause and size")
            figure.tight_layout()
            figure.savefig(target, dpi=120)
            plt.close(figure)
    return cjk[0] if cjk else None
