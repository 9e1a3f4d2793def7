"""The prediction server's loop: take a request off the Redis list, answer it onto its reply key, heartbeat.

One request at a time per process (a model's forward pass uses every core, or the GPU, by itself); more servers,
on this host or others sharing the Redis and the artifact store, take requests off the same list.
"""

import json
import logging
import os
import signal
import socket
import threading
import time
import uuid

import redis

from app.core.config import Settings, get_settings
from app.datasets.images import PREDICT_PIXELS_SETTING, PixelLimit
from app.predictions import protocol
from worker.serving.models import ModelCache, ModelUnavailable, default_device
from worker.serving.predict import BadImage, top_classes

log = logging.getLogger("flashjobs.predictor")
POLL_S = 1  # how often an idle server looks at its stop flag


class PredictionServer:
    """Answers prediction requests from the Redis at `redis_url` with the models of `cache`."""

    def __init__(self, redis_url: str, cache: ModelCache) -> None:
        self.redis_url = redis_url
        self.client = redis.Redis.from_url(redis_url)
        self.cache = cache
        # Unique to this process (a restarted container keeps its hostname and may reuse a pid): its taken list
        # never holds another's requests.
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stop = threading.Event()

    def handle(self, message: bytes) -> tuple[str, bytes] | None:
        """(reply key, encoded answer) for one encoded request; None for one past its deadline or unreadable."""
        started = time.perf_counter()
        try:
            request, images = protocol.decode_request(message)
        except (ValueError, TypeError) as exc:
            log.error("dropped a prediction request that is not one: %s", exc)
            return None
        if time.time() > request.deadline:
            return None  # the API stopped waiting: the answer would only expire unread
        try:
            model, loaded = self.cache.get(request.model_path, request.model_sha256)
            limit = PixelLimit(request.max_pixels, PREDICT_PIXELS_SETTING)  # the API's value
            predictions = top_classes(model, images, request.top_k, limit=limit)
            # Strict JSON on the wire: the API sends it on unparsed (top_classes refuses non-finite outputs).
            encoded = json.dumps(predictions, allow_nan=False).encode()
        except ModelUnavailable as exc:
            return request.reply_key, protocol.encode_reply({"error": {"kind": exc.kind, "message": exc.message}})
        except BadImage as exc:
            error = {"kind": protocol.BAD_IMAGE, "message": exc.message, "index": exc.index}
            return request.reply_key, protocol.encode_reply({"error": error})
        except Exception as exc:  # the server stays up for the next request
            log.exception("prediction for job %s failed", request.job_id)
            error = {"kind": protocol.INTERNAL, "message": f"{type(exc).__name__}: {exc}"}
            return request.reply_key, protocol.encode_reply({"error": error})
        header = {
            "device": str(model.device),
            "load_s": model.load_s if loaded else None,
            "server_s": time.perf_counter() - started,
        }
        return request.reply_key, protocol.encode_reply(header, encoded)

    def serve_one(self) -> bool:
        """Wait up to POLL_S for a request and answer it; whether there was one."""
        taken = protocol.taken_key(self.id)
        message = self.client.blmove(protocol.REQUESTS, taken, POLL_S, "RIGHT", "LEFT")  # the oldest
        if message is None:
            return False
        handled = self.handle(message)
        with self.client.pipeline(transaction=False) as pipe:
            if handled is not None:
                key, answer = handled
                pipe.lpush(key, answer).expire(key, protocol.REPLY_TTL_S)
            pipe.delete(taken).execute()  # it held this request alone (not LREM: that sends the images back)
        return True

    def heartbeat_forever(self, client: redis.Redis) -> None:
        """Say every HEARTBEAT_S that this server is up (its own connection: the loop's may be blocked)."""
        while not self.stop.is_set():
            try:
                now = time.time()
                client.zadd(protocol.SERVERS, {self.id: now})
                for silent in client.zrangebyscore(protocol.SERVERS, "-inf", now - protocol.SERVER_STALE_S):
                    requeue_taken(client, silent.decode())
            except redis.RedisError as exc:  # Redis restarting: the next beat tries again
                log.warning("heartbeat failed: %s", exc)
            self.stop.wait(protocol.HEARTBEAT_S)
        client.zrem(protocol.SERVERS, self.id)

    def run(self) -> None:
        """Serve until stop is set (SIGTERM, SIGINT); Redis errors are waited out."""
        beat = threading.Thread(
            target=self.heartbeat_forever, args=(redis.Redis.from_url(self.redis_url),), daemon=True
        )
        beat.start()
        while not self.stop.is_set():
            try:
                self.serve_one()
            except redis.RedisError as exc:
                log.warning("Redis: %s; retrying", exc)
                self.stop.wait(1.0)
        beat.join(timeout=5)


def requeue_taken(client: redis.Redis, server_id: str) -> int:
    """A silent server's taken requests back where the next free server takes them; how many."""
    moved = 0
    while client.lmove(protocol.taken_key(server_id), protocol.REQUESTS, "RIGHT", "RIGHT") is not None:
        moved += 1
    client.zrem(protocol.SERVERS, server_id)
    if moved:
        log.warning("server %s stopped heartbeating holding %d request(s): put back for another", server_id, moved)
    return moved


def main(settings: Settings | None = None) -> None:
    """`flashjobs predictor`: serve predictions with this machine's GPU (or CPU) until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings or get_settings()
    device = default_device()
    cache = ModelCache(
        artifact_dir=settings.effective_artifact_dir, max_bytes=settings.predict_cache_bytes, device=device
    )
    server = PredictionServer(settings.effective_redis_url, cache)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop.set())
    log.info("prediction server %s on %s, artifacts in %s", server.id, device, settings.effective_artifact_dir)
    server.run()
