"""What the report writes: the PDF (typst), results/verdicts.csv, and the README's results table.
Never imports torch."""
from __future__ import annotations

import shutil
from pathlib import Path

from trickbench import config, io, resources
from trickbench.report.gather import gather
from trickbench.report.sections import canaries, reproduction, speed, verdict_changes
from trickbench.report.text import _names


FLAT_COLUMNS = ("trick", "claim", "tier", "level", "subclaim", "statement", "verdict", "verdict_uncorrected",
                "metric", "effect", "ci_low", "ci_high", "n", "p_value", "p_holm", "p_min", "decidable",
                "paper_value", "paper_source", "setup_mixed", "tuning_unsettled")


def flat_verdicts(results: Path, claims_dir: Path) -> list[dict]:
    """Every sub-claim of every claim at every tier in results/, one row each, raw numbers (the
    report's tables round them): results/verdicts.csv."""
    rows = []
    for path in sorted(Path(results).glob("*/*/verdicts.json")):
        v = io.read_json(path)
        cf = Path(claims_dir) / f"{v['claim']}.yaml"
        claim = config.load_yaml(cf.read_text()) if cf.exists() else {}
        level = claim.get("tiers", {}).get(v["tier"], {}).get("level", "")
        for sc in v["subclaims"]:
            rows.append({"trick": claim.get("trick", ""), "claim": v["claim"], "tier": v["tier"], "level": level,
                         "subclaim": sc["id"], "statement": sc["statement"], "verdict": sc["verdict"],
                         "verdict_uncorrected": sc.get("verdict_uncorrected", ""),
                         "metric": sc["rule"].get("metric", ""), "effect": sc.get("effect"),
                         "ci_low": sc.get("ci_low"), "ci_high": sc.get("ci_high"), "n": sc.get("n"),
                         "p_value": sc.get("p_value"), "p_holm": sc.get("p_holm"), "p_min": sc.get("p_min"),
                         "decidable": sc.get("decidable"), "paper_value": (sc.get("paper") or {}).get("value", ""),
                         "paper_source": (sc.get("paper") or {}).get("source", ""),
                         "setup_mixed": sc.get("setup_mixed", ""), "tuning_unsettled": sc.get("tuning_unsettled", "")})
    return rows


def write_flat_verdicts(results: Path, claims_dir: Path) -> Path:
    import csv
    import io as _io
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FLAT_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows({k: ("" if r[k] is None else r[k]) for k in FLAT_COLUMNS} for r in flat_verdicts(results, claims_dir))
    out = Path(results) / "verdicts.csv"
    io.atomic_write_text(out, buf.getvalue())
    return out


README_START = "<!-- results: written by `trickbench report` (the pipeline's report rule) from results/; edits are overwritten -->"


README_END = "<!-- end of results -->"


def readme_table(answers_: list[dict]) -> str:
    """Page 1 as a Markdown table for the README: each sub-claim at its strongest evidence."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")
    lines = ["| Trick | Sub-claim | Verdict | Change, arm − baseline [95 % interval; 90 % for equivalence] | Paper | Evidence |",
             "|---|---|---|---|---|---|"]
    for t in answers_:
        for r in t["found"] + t["open"]:
            lines.append(f"| {cell(t['trick'])} | {cell(r['label'])} | {cell(r['verdict'])} | {cell(r['effect'])} | "
                         f"{cell(r['paper'])} | {cell(r['level'])} (`{r['tier']}`)"
                         f"{'; ' + r['paper_vs'] if r.get('paper_vs') else ''}"
                         f"{'; ' + r['regime_word'] if r['regime_word'] else ''}"
                         f"{'; elsewhere: ' + r['others'] if r.get('others') else ''} |")
    return "\n".join(lines)


def readme_describes(readme: Path, results: Path) -> bool:
    """Whether README's results table is of `results`: only the results folder beside it (the
    committed one). A side run (another results_dir, the README's reproduce command) never rewrites it."""
    return Path(results).resolve() == Path(readme).resolve().parent / "results"


def update_readme(path: Path, table: str) -> bool:
    """Replace the block between README_START and README_END in `path` with `table`; False (and
    nothing written) where the file or its markers are absent (a folder of one's own)."""
    path = Path(path)
    if not path.exists():
        return False
    text = path.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    new = f"{head}{README_START}\n{table}\n{README_END}{tail}"
    if new != text:
        io.atomic_write_text(path, new)
    return True


def build(results: Path, claims_dir: Path, report_dir: Path, out: Path, readme: Path | None = None) -> None:
    import typst

    report_dir = Path(report_dir)
    fig_dir = report_dir / "figures"
    data = gather(results, claims_dir, fig_dir, Path("figures"))
    data["speed"] = speed(results)
    names = _names(results, claims_dir)
    data["changes"] = verdict_changes(results, names)
    data["reproduction"] = reproduction(results, names)
    data["canary"] = canaries(results)
    data["forest_figures"] = []
    if data["forest"]:
        from trickbench import figures  # matplotlib: only when a report is built
        data["forest_figures"] = [f"figures/{p.name}" for p in figures.forest_figures(data["forest"], fig_dir)]
    if not data["claims"]:
        raise FileNotFoundError(f"no results/*/*/verdicts.json under {results}: run the pipeline first")
    for c in data["claims"]:
        if c.get("budget") and c["budget"]["points"]:
            from trickbench import figures  # matplotlib: only when a report is built
            name = f"budget_{c['id']}.svg"
            figures.budget_figure(c["budget"], c["title"], fig_dir / name)
            c["budget"]["figure"] = f"figures/{name}"
    build_dir = report_dir / "build"
    io.write_json(build_dir / "data.json", data)
    write_flat_verdicts(results, claims_dir)   # the same verdicts as one table, for scripts
    if readme is not None and readme_describes(readme, results):
        update_readme(readme, readme_table(data["answers"]))
    elif readme is not None:
        print(f"{readme} left alone: its table is of {Path(readme).resolve().parent / 'results'}, this report of {results}")
    template, source = report_dir / "report.typ", resources.path("report.typ")
    if template.resolve() != source.resolve():
        shutil.copyfile(source, template)
    pdf = typst.compile(str(template), root=str(report_dir))
    io.atomic_write_bytes(out, pdf)
