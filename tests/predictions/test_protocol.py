"""The wire between the API and the servers: requests encode and decode whole, and the API's wait outlasts
redis-py's 5 s socket timeout (real Redis)."""

import asyncio
import threading
import time

import pytest
import redis
import redis.asyncio as aioredis

from app.predictions import protocol
from app.predictions.protocol import PredictionRequest
from app.predictions.service import wait_for_reply


def _request(deadline: float) -> PredictionRequest:
    return PredictionRequest(
        id=f"test-{time.time_ns()}",
        job_id="j",
        model_path="m.pt",
        model_sha256="0" * 64,
        top_k=3,
        max_pixels=1 << 20,
        deadline=deadline,
    )


def test_a_request_decodes_to_its_header_and_images():
    images = [b"\x89PNG first", b"", b"third\nwith a newline"]
    decoded, found = protocol.decode_request(protocol.encode_request(_request(1.0), images))
    assert found == images and decoded.sizes == [10, 0, 20] and decoded.top_k == 3
    with pytest.raises(ValueError, match="announces"):
        protocol.decode_request(protocol.encode_request(_request(1.0), images)[:-1])
    with pytest.raises(ValueError, match="header line"):
        protocol.decode_request(b"no newline")


def test_a_reply_decodes_to_its_header_and_the_predictions_json():
    predictions = b'[[{"label": "cat", "probability": 0.75}]]'
    assert protocol.decode_reply(protocol.encode_reply({"server_s": 0.1}, predictions)) == (
        {"server_s": 0.1},
        predictions,
    )
    assert protocol.decode_reply(protocol.encode_reply({"error": {"kind": "internal"}})) == (
        {"error": {"kind": "internal"}},
        b"",
    )


def test_the_api_waits_past_the_redis_socket_timeout_and_stops_at_the_deadline(redis_url):
    request = _request(time.time() + 30)
    late = threading.Timer(6.5, lambda: redis.Redis.from_url(redis_url).lpush(request.reply_key, b'{"late": 1}'))
    late.start()

    async def wait(message: PredictionRequest) -> bytes | None:
        client = aioredis.from_url(redis_url, socket_connect_timeout=2)  # as app/main.py makes it
        try:
            return await wait_for_reply(client, message)
        finally:
            await client.aclose()

    assert asyncio.run(wait(request)) == b'{"late": 1}'
    started = time.monotonic()
    assert asyncio.run(wait(_request(time.time() + 1))) is None
    assert 0.8 < time.monotonic() - started < 3


def test_a_request_held_by_a_server_that_went_silent_is_answered_by_another(prediction_server, redis_url):
    client = redis.Redis.from_url(redis_url)
    dead = "gone-host:1"
    request = _request(time.time() + 60)
    client.zadd(protocol.SERVERS, {dead: time.time() - protocol.SERVER_STALE_S - 1})
    client.lpush(protocol.taken_key(dead), protocol.encode_request(request, [b"an image"]))
    # The live server's heartbeat puts it back; the server answers it (its model is not there: an error answer).
    popped = client.blpop([request.reply_key], timeout=protocol.HEARTBEAT_S * 3 + 5)
    assert popped is not None, "nobody answered the request the silent server held"
    assert protocol.decode_reply(popped[1])[0]["error"]["kind"] == protocol.MODEL_MISSING
    # The silent server is forgotten once its list is empty (just after the request went back: wait for it).
    deadline = time.monotonic() + 5
    while client.zscore(protocol.SERVERS, dead) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.llen(protocol.taken_key(dead)) == 0 and client.zscore(protocol.SERVERS, dead) is None
    assert client.llen(protocol.taken_key(prediction_server.id)) == 0  # answered requests leave the taken list
