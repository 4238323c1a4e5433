"""Printing and saving the evaluation report (table, JSON, Markdown)."""

from __future__ import annotations

import json
from pathlib import Path

METRICS = ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")


def table_rows(report: dict) -> list[list[str]]:
    """Rows ``[set, queries, pipeline, metrics...]`` of the retrieval table."""
    rows = []
    for result in report["sets"]:
        best = {m: max((p.get(m, -1) for p in result["pipelines"].values()), default=-1) for m in METRICS}
        for name, values in result["pipelines"].items():
            cells = []
            for metric in METRICS:
                if metric not in values:
                    cells.append("")
                    continue
                mark = "*" if values[metric] == best[metric] and values[metric] > 0 else ""
                cells.append(f"{values[metric]:.3f}{mark}")
            rows.append([result["set"], str(result["queries"]), name, *cells, f"{values['ms_per_query']:.0f}"])
    return rows


HEADER = ["set", "n", "pipeline", *METRICS, "ms/q"]


def render_text(report: dict) -> str:
    """The evaluation report as aligned plain-text tables (best values marked)."""
    rows = table_rows(report)
    widths = [max(len(str(r[i])) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=False))]
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0]
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))
    lines.append("(* best on the set)")
    lines += ["", _gate_text(report), _officer_gate_text(report)]
    return "\n".join(lines)


def _officer_gate_text(report: dict) -> str:
    gate = report.get("officer_gate")
    if not gate:
        return ""
    lines = ["Evidence gate on the blind officer-style questions (tests/data/officer_eval, unseen_docs):"]
    for group, g in gate.items():
        if group == "out-of-scope":
            lines.append(f"  {group:14} declined {g['declined']:.1%} of {g['questions']} "
                         f"(closest-section pointer on {g['pointed']:.1%})")
        else:
            lines.append(f"  {group:14} answered {g['answered']:.1%} of {g['questions']} "
                         f"(with the right first passage {g['answered_right']:.1%}; pointer on {g['pointed']:.1%})")
    return "\n".join(lines)


def _gate_text(report: dict) -> str:
    gate = report.get("gate")
    if not gate:
        return ""
    lines = ["Evidence gate on tests/data/kb_questions.yml:"]
    for split, g in gate.items():
        lines.append(f"  {split:5} in-scope answered {g['in_scope_answered']:.1%} ({g['in_scope']})   "
                     f"out-of-scope declined {g['out_of_scope_declined']:.1%} ({g['out_of_scope']})")
        if "in_scope_answered_or_pointed" in g:
            lines.append(f"        closest-section pointer: in-scope answered or pointed to the right section "
                         f"{g['in_scope_answered_or_pointed']:.1%}, out-of-scope declined without a pointer "
                         f"{g['out_of_scope_declined_without_pointer']:.1%}")
        if g["wrongly_declined"]:
            lines.append(f"        declined but in scope: {'; '.join(g['wrongly_declined'])}")
        if g["wrongly_answered"]:
            lines.append(f"        answered but out of scope: {'; '.join(g['wrongly_answered'])}")
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    """The evaluation report as Markdown tables (for the README)."""
    rows = table_rows(report)
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        out.append("| " + " | ".join(c.replace("*", " **best**") if c.endswith("*") else c for c in row) + " |")
    gate = report.get("gate") or {}
    if gate:
        out += ["", "| gate split | in-scope answered | out-of-scope declined | in-scope answered or pointed "
                "to the right section | out-of-scope declined without a pointer |", "|---|---|---|---|---|"]
        for split, g in gate.items():
            out.append(f"| {split} | {g['in_scope_answered']:.1%} ({g['in_scope']}) | "
                       f"{g['out_of_scope_declined']:.1%} ({g['out_of_scope']}) | "
                       f"{g.get('in_scope_answered_or_pointed', 0):.1%} | "
                       f"{g.get('out_of_scope_declined_without_pointer', 0):.1%} |")
    officer = report.get("officer_gate") or {}
    if officer:
        out += ["", "| officer gate group | questions | answered | answered, right first passage | declined |",
                "|---|---|---|---|---|"]
        for group, g in officer.items():
            answered = 1 - g["declined"] if group == "out-of-scope" else g["answered"]
            right = "" if group == "out-of-scope" else f"{g['answered_right']:.1%}"
            declined = g["declined"] if group == "out-of-scope" else 1 - g["answered"]
            out.append(f"| {group} | {g['questions']} | {answered:.1%} | {right} | {declined:.1%} |")
    notes = [f"- **{r['set']}**: {r['note']}" for r in report["sets"] if r.get("note")]
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


def save(report: dict, folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "report.json", folder / "report.md"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    md_path.write_text(render_markdown(report))
    return json_path, md_path
