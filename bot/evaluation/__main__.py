"""``python -m bot.evaluation [--sets kb,cghs,...] [--quick]`` (``make eval``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bot.config import PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print / save the report.

    Returns:
        Process exit status: 0, or 2 when every requested set needs the missing ``../shared``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from bot.evaluation import report as reporting
    from bot.evaluation.gate_eval import gate_metrics, officer_gate_metrics
    from bot.evaluation.runner import PIPELINES, Workspace, evaluate_set
    from bot.evaluation.sets import SET_NAMES, SHARED, load_set, missing_shared

    parser = argparse.ArgumentParser(prog="python -m bot.evaluation", description=__doc__)
    parser.add_argument("--sets", default=",".join(SET_NAMES), help=f"comma-separated, from {SET_NAMES}")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="hybrid,bm25,minilm,e5")
    parser.add_argument("--quick", action="store_true", help="small deterministic subsamples of each set")
    parser.add_argument("--state", default=str(PROJECT_ROOT / ".state" / "eval"), help="cache and report folder")
    args = parser.parse_args(argv)

    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [n for n in names if n not in SET_NAMES]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SET_NAMES)}")
    skipped = missing_shared(names)
    if skipped:
        print(f"{SHARED} (the shared corpus and labelled sets, beside this checkout) is missing: "
              f"skipping {', '.join(skipped)}", file=sys.stderr)
        names = [n for n in names if n not in skipped]
        if not names:
            print("nothing left to evaluate: put ../shared beside the checkout, or pass --sets kb,newdocs",
                  file=sys.stderr)
            return 2
    started = time.perf_counter()
    state = Path(args.state)
    workspace = Workspace.create(state)
    pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    report: dict = {"quick": args.quick, "sets": []}
    retrievers = {}
    for name in names:
        eval_set = load_set(name, quick=args.quick)
        if eval_set.index not in retrievers:
            retrievers[eval_set.index] = workspace.retriever(eval_set.index)
        print(f"evaluating {name} ({len(eval_set.queries)} queries) ...", file=sys.stderr, flush=True)
        report["sets"].append(evaluate_set(eval_set, retrievers[eval_set.index], pipelines))
        workspace.save()
        if name == "kb":
            report["gate"] = gate_metrics(retrievers["kb"])
        if name.startswith("officer") and "officer_gate" not in report:
            for index_name in ("newdocs", "newdocs-course"):
                if index_name not in retrievers:
                    retrievers[index_name] = workspace.retriever(index_name)
            report["officer_gate"] = officer_gate_metrics(retrievers["corpus"], retrievers["newdocs"],
                                                          retrievers["newdocs-course"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    workspace.save()
    print(reporting.render_text(report))
    json_path, md_path = reporting.save(report, state)
    print(f"\nwritten {json_path} and {md_path} ({report['seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
