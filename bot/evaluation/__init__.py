"""Retrieval and gate evaluation (``make eval``).

``python -m bot.evaluation`` indexes each evaluation set with the project's own
loader, chunking and index (cached under ``.state/eval/``), then reports hit@1/5/10,
MRR@10 (and nDCG@10 for graded sets) for the hybrid pipeline side by side with
BM25-only and dense-only baselines on the same chunks, plus the evidence gate's
answered / declined rates on the labelled knowledge-base questions.
"""
