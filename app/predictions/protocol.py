"""The wire between the API and the prediction servers: one Redis list of requests, one reply key per request.

A request is a JSON header line followed by the images' bytes, end to end (their lengths are in the header), so
that images travel as they came, without base64. A server answers by pushing JSON onto the request's reply key,
which expires; it skips a request whose deadline has passed (the API has stopped waiting for it). Each server
heartbeats into a sorted set (score: the time of its last beat), which tells the API at once that none runs.

A server moves the request it takes onto a list of its own (BLMOVE) and empties that list once answered, so that
a server that dies holding one (or, dying, is handed one by Redis before its socket closes) loses nothing: the
others put a silent server's taken requests back at the head of the list.
"""

import json
from dataclasses import asdict, dataclass, field

REQUESTS = "flashjobs:predictions:requests"
SERVERS = "flashjobs:predictions:servers"
REPLY_PREFIX = "flashjobs:predictions:reply:"
TAKEN_PREFIX = "flashjobs:predictions:taken:"  # + a server's id: the request it is answering
HEARTBEAT_S = 2.0
SERVER_STALE_S = 10.0  # a server silent this long is presumed gone
REPLY_TTL_S = 60  # a reply nobody collected (the API timed out) goes after this


@dataclass(frozen=True)
class PredictionRequest:
    """What a server needs: the model file (relative to the artifact store, and its sha256), the images, top_k."""

    id: str
    job_id: str
    model_path: str
    model_sha256: str
    top_k: int
    max_pixels: int  # per image (FLASHJOBS_PREDICT_MAX_IMAGE_PIXELS): the server checks the images it decodes
    deadline: float  # time.time() after which the API no longer waits
    sizes: list[int] = field(default_factory=list)

    @property
    def reply_key(self) -> str:
        return REPLY_PREFIX + self.id


def taken_key(server_id: str) -> str:
    return TAKEN_PREFIX + server_id


def encode_request(request: PredictionRequest, images: list[bytes]) -> bytes:
    """Header line, then the images' bytes."""
    header = asdict(request) | {"sizes": [len(image) for image in images]}
    return json.dumps(header).encode() + b"\n" + b"".join(images)


def decode_request(message: bytes) -> tuple[PredictionRequest, list[bytes]]:
    """The header and the images of an encoded request; ValueError if it is not one."""
    line, separator, body = message.partition(b"\n")
    if not separator:
        raise ValueError("a prediction request needs a header line")
    request = PredictionRequest(**json.loads(line))
    if sum(request.sizes) != len(body):
        raise ValueError(f"the header announces {sum(request.sizes)} bytes of images, the body has {len(body)}")
    images, start = [], 0
    for size in request.sizes:
        images.append(body[start : start + size])
        start += size
    return request, images


def encode_reply(header: dict, predictions: bytes = b"") -> bytes:
    """A server's answer: a JSON header line, then (on success) the predictions' JSON, which the API sends on as
    it is, without parsing and dumping it again."""
    return json.dumps(header).encode() + b"\n" + predictions


def decode_reply(message: bytes) -> tuple[dict, bytes]:
    """(header, predictions JSON) of a server's answer."""
    line, _, predictions = message.partition(b"\n")
    return json.loads(line), predictions


# A server's answer: the header {"device", "load_s", "server_s" (from the request's pop to its answer: decode,
# model lookup or load, checks, preprocessing, forward)} and the JSON [[{"label", "probability"}, ...] per image],
# or the header {"error": {"kind", "message", "index"}} alone, with kind one of these.
MODEL_MISSING = "model_missing"  # the file is not (yet) in this server's view of the artifact store
BAD_MODEL = "bad_model"  # the file is there and cannot be loaded or used as a classifier
BAD_IMAGE = "bad_image"  # image `index` does not decode
INTERNAL = "internal"
