"""All configuration: one settings class, read from FLASHJOBS_* environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service settings; every field can be set as FLASHJOBS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="FLASHJOBS_", extra="ignore")

    state_dir: Path = Field(Path(".flashjobs"), description="Local state: SQLite file, embedded Redis, logs")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite under state_dir")
    redis_url: str | None = Field(None, description="Redis URL; default the bundled redis-server")
    # Not 6379, so the bundled server never collides with a system Redis.
    embedded_redis_port: int = Field(6399, description="Port of the bundled redis-server (when redis_url is unset)")
    artifact_dir: Path | None = Field(None, description="Where jobs write artifacts; default state_dir/artifacts")
    data_dir: Path = Field(Path("data"), description="Datasets: CIFAR files and image folders")
    allow_downloads: bool = Field(True, description="Download CIFAR when missing from data_dir")
    api_url: str = Field("http://127.0.0.1:8000", description="Where the CLI finds the API")

    # Liveness and dispatch. A running job heartbeats every heartbeat_s; one silent for
    # heartbeat_timeout_s is presumed lost (a worker restart takes a few seconds, so 60 s is ample).
    heartbeat_s: float = 2.0
    heartbeat_timeout_s: float = 60.0
    max_attempts: int = 3
    reconcile_every_s: float = 10.0
    redispatch_after_s: float = 300.0  # a queued job whose message may be lost is re-sent after this
    reconcile_in_api: bool = True  # the API runs the reconciler loop; turn off where a separate one runs
    progress_every_s: float = 2.0  # within-epoch progress to Redis at most this often
    # A worker keeps one attempt process started ahead, its imports done (worker/spare.py); off: one per job.
    warm_attempts: bool = True
    # `flashjobs up` restarts a child that dies, but gives up on one that dies this many times in a row,
    # each time within restart_window_s of its start (systemd's StartLimitBurst).
    restart_limit: int = 5
    restart_window_s: float = 10.0

    # Access (app/access/): a verified key is trusted this long before SQL is asked again (a revoke in another
    # API process takes effect within it); the CLI's key when --api-key is not given.
    key_cache_s: float = Field(5.0, ge=0, description="How long a verified API key is cached")
    api_key: str | None = Field(None, description="The CLI's API key; default the admin key file of `flashjobs up`")
    # Host headers the API answers (others get 400: DNS rebinding); `flashjobs up` on a loopback address sets the
    # loopback names for its API. Browser origins allowed by CORS: none unless listed.
    allowed_hosts: list[str] = Field(default_factory=lambda: ["*"], description="Host headers the API answers")
    cors_origins: list[str] = Field(default_factory=list, description="Origins a browser may call the API from")

    # Webhooks (app/webhooks/): delivered by the process that runs the reconciler (reconcile_in_api, or
    # `flashjobs reconcile --loop`), retried with a doubling backoff for a bounded time.
    webhook_allow_networks: list[str] = Field(
        default_factory=list, description="Networks of the service's own (CIDRs) a webhook URL may point into"
    )
    webhook_timeout_s: float = Field(5.0, gt=0, description="One delivery attempt's connect and read timeout")
    webhook_backoff_s: float = Field(5.0, gt=0, description="Wait before the first retry; doubles, at most 1 h")
    webhook_retry_for_s: float = Field(24 * 3600.0, ge=0, description="A delivery failing this long gives up")
    webhook_every_s: float = Field(1.0, gt=0, description="How often due deliveries are looked for")
    webhook_concurrency: int = Field(8, ge=1, description="Deliveries attempted at once by one process")

    # GET /metrics (Prometheus): for clients on this host only, or for anyone who reaches the port.
    metrics_access: Literal["loopback", "open"] = Field(
        "loopback", description="Who may scrape /metrics: loopback clients, or anyone (then guard the network)"
    )

    # Limits on what one request may ask for (app/api/body_limit.py, app/jobs/limits.py); an operator raises them.
    max_request_bytes: int = Field(1 << 20, ge=0, description="Largest request body, in bytes")
    max_image_size: int = Field(512, ge=8, description="Largest dataset.image_size, in pixels")
    max_batch_size: int = Field(1024, ge=1, description="Largest trainer.batch_size")
    max_epochs: int = Field(300, ge=1, description="Largest trainer.max_epochs of one job")
    max_devices: int = Field(8, ge=1, description="Largest trainer.devices: the GPUs one worker has")
    max_chain_steps: int = Field(20, ge=1, description="Most steps in one chain")
    max_chain_epochs: int = Field(1000, ge=1, description="Most epochs of all the steps of one chain together")

    # Recommendations (POST /v1/recommendations): how many backbones one ranks, how many images it scores.
    recommend_max_candidates: int = Field(20, ge=1, description="Backbones ranked when the request names none")
    recommend_max_sample: int = Field(5000, ge=2, description="Largest sample_size of a recommendation")

    # Datasets (app/datasets/): every archive, image and URL from a user is hostile, so each has a bound.
    max_upload_bytes: int = Field(2 * 1024**3, description="Largest archive accepted, uploaded or fetched (413)")
    dataset_max_entries: int = Field(200_000, description="Most entries (files, folders) an archive may hold")
    dataset_max_unpacked_bytes: int = Field(8 * 1024**3, description="Most bytes an archive may unpack to")
    dataset_max_compression_ratio: float = Field(100.0, description="Unpacked bytes over archive bytes (zip bombs)")
    dataset_max_image_pixels: int = Field(36_000_000, description="Larger images are decompression bombs")
    dataset_max_problems: int = Field(1000, description="Problems listed in a dataset's summary (all are counted)")
    dataset_fetch_timeout_s: float = Field(600.0, description="Whole time a URL import may take to download")
    dataset_fetch_max_redirects: int = 5
    # What an upload or import whose process died left half-way in datasets/.incoming/ goes after this.
    dataset_incoming_max_age_s: float = 24 * 3600
    # A URL import never reaches the service's own network (loopback, private, link-local, metadata) except the
    # networks listed here, as CIDRs: FLASHJOBS_DATASET_FETCH_ALLOW_NETWORKS='["10.1.0.0/16"]'.
    dataset_fetch_allow_networks: list[str] = Field(default_factory=list)

    # Predictions (app/predictions/, worker/serving/): the API checks a request's images, a server applies the model.
    predict_max_images: int = Field(64, ge=1, description="Most images in one prediction request (413)")
    predict_max_bytes: int = Field(16 * 1024**2, ge=0, description="Largest prediction request body, in bytes (413)")
    predict_max_image_pixels: int = Field(36_000_000, ge=1, description="Larger images are refused (422)")
    predict_timeout_s: float = Field(60.0, gt=0, description="How long the API waits for a prediction server")
    predict_cache_bytes: int = Field(2 * 1024**3, ge=0, description="Memory a server's loaded models may take")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'flashjobs.db').resolve()}"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def effective_artifact_dir(self) -> Path:
        return (self.artifact_dir or self.state_dir / "artifacts").resolve()


@lru_cache
def get_settings() -> Settings:
    return Settings()
