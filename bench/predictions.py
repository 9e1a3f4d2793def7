"""Predictions over HTTP against the same TorchScript model called directly in one process.

What it measures
    `flashjobs up` (API, bundled Redis, one warm Celery worker, one prediction server, SQLite) trains a small job
    (ResNet-18 on synthetic CIFAR-10 at 32 px), then, with loopback clients on keep-alive connections:
    1. Cold: the first prediction of the model on a running server (the server loads model.pt), and the first
       answer after the prediction server is killed (`flashjobs up` starts a new one: process start, imports,
       model load).
    2. Warm latency, 1 image: POST /v1/jobs/{id}/predictions with one PNG (multipart), one after the other.
       Direct: the same PNG bytes through the same model in this process (decode, preprocess, forward, softmax,
       top-k: worker/serving/predict.py's top_classes, on the same device). p50 and p99; target: service p50
       within 15 ms of direct.
    3. Throughput, 64-image requests: images/s of requests of 64 PNGs against the same 64-image batches called
       directly, back to back. Target: >= 0.8 of direct. Measured two ways: one request at a time (the service's
       hops add to each forward pass: a latency), and with --in-flight requests at once from as many clients (a
       service's throughput: the next request's hops overlap this one's forward pass). Each answer's
       Server-Timing parts (read, queue, predict; "other": what the client saw beyond them) are reported as
       medians, for both sizes, one at a time.
    Rounds alternate direct and service, so that drift on a shared machine hits both.
    4. Submit -> first training step with the warm worker (bench/latency.py's measurement); target < 2 s.

How to run
    .venv/bin/python bench/predictions.py                 # ~5 min on 2 CPU cores
    .venv/bin/python bench/predictions.py --rounds 5 --single 100 --batches 10 --in-flight 3 --cifar-stem
Output
    bench/results/predictions.json; docs/benchmarks.md reports a run.
"""

import argparse
import io
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, summarize_ms, write_results
from latency import submit_to_first_step
from service import api, running_service, wait_final

TRAINER = {"batch_size": 50, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0, "max_epochs": 1}


def val_pngs(data_dir: Path, count: int) -> list[bytes]:
    """`count` validation images of the synthetic CIFAR-10 as PNG files' bytes, as a client would send them."""
    from PIL import Image

    from worker.training.cifar import read_cifar

    val = read_cifar(data_dir / "cifar-10-batches-py", "cifar10").val
    out = []
    for image in val.images[:count]:
        buffer = io.BytesIO()
        Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def timed_posts(client: httpx.Client, url: str, requests: list[list[bytes]], parts: dict | None = None) -> list[float]:
    """Seconds per request, each a multipart POST of its images (a 200 is required).

    Each answer's Server-Timing parts (ms: the API reading the request, the Redis round trip less the server's
    part, the server's part) are appended to `parts`, with "other": what the client saw beyond them.
    """
    times = []
    for images in requests:
        files = [("file", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
        start = time.perf_counter()
        # Encoded in the timed part, and sent as one buffer as curl sends it: httpx's own multipart stream is
        # four writes per file, 257 for 64 images, which the API would read as as many chunks.
        encoded = client.build_request("POST", url, files=files)
        response = client.post(url, content=encoded.read(), headers={"content-type": encoded.headers["content-type"]})
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
        if parts is not None:
            timing = server_timing(response.headers["server-timing"])
            timing["other"] = times[-1] * 1000 - sum(timing.values())
            for name, ms in timing.items():
                parts.setdefault(name, []).append(ms)
    return times


def posts_in_flight(clients: list[httpx.Client], url: str, requests: list[list[bytes]]) -> float:
    """Wall seconds for the requests, shared out among the clients, each posting its share one after the other."""
    shares = [requests[i :: len(clients)] for i in range(len(clients))]
    with ThreadPoolExecutor(len(clients)) as pool:
        start = time.perf_counter()
        list(pool.map(timed_posts, clients, [url] * len(clients), shares))
        return time.perf_counter() - start


def server_timing(header: str) -> dict[str, float]:
    """{"read": ms, ...} of a Server-Timing header."""
    out = {}
    for metric in header.split(","):
        name, _, duration = metric.strip().partition(";dur=")
        out[name] = float(duration)
    return out


def timed_direct(model, requests: list[list[bytes]]) -> list[float]:
    """Seconds per call of the serving code's top_classes on this process's copy of the model."""
    from app.core.config import get_settings
    from app.datasets.images import PREDICT_PIXELS_SETTING, PixelLimit
    from worker.serving.predict import top_classes

    limit = PixelLimit(get_settings().predict_max_image_pixels, PREDICT_PIXELS_SETTING)  # as served
    times = []
    for images in requests:
        start = time.perf_counter()
        top_classes(model, images, 5, limit=limit)
        times.append(time.perf_counter() - start)
    return times


def first_answer(client: httpx.Client, url: str, image: bytes, timeout_s: float = 300) -> float:
    """Seconds until a POST answers 200 (503s while no server has registered are retried)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        response = client.post(url, files={"file": ("0.png", image, "image/png")})
        if response.status_code == 200:
            return time.perf_counter() - start
        if response.status_code != 503:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
        time.sleep(0.05)
    raise TimeoutError("no prediction server answered")


def predictor_pid(state_dir: Path) -> int:
    from app.stack.lock import running_stack

    return int((running_stack(state_dir) or {})["children"]["predictor"]["pid"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=100, help="1-image requests per round and side")
    parser.add_argument("--batches", type=int, default=5, help="64-image requests per round and side")
    parser.add_argument("--batch-images", type=int, default=64)
    parser.add_argument("--in-flight", type=int, default=2, help="64-image requests at once, for throughput")
    parser.add_argument("--cifar-stem", action="store_true", help="the CIFAR stem (15x the compute at 32 px)")
    parser.add_argument("--first-step-jobs", type=int, default=2)
    args = parser.parse_args()
    from app.artifacts.service import sha256_of
    from app.synthetic_data import write_cifar10
    from worker.serving.models import default_device, load_model

    start_load = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_cifar10(root / "data", train_per_class=20, val_per_class=20)
        images = val_pngs(root / "data", max(args.batch_images, 200))
        with running_service(root / "service", root / "data", progress_every_s="0.5") as api_url:
            spec = {
                "kind": "train",
                "dataset": {"name": "cifar10"},
                "model": {"backbone": "resnet18", "cifar_stem": args.cifar_stem},
                "trainer": TRAINER,
            }
            job = api.post(f"{api_url}/v1/jobs", json=spec, timeout=30).json()
            job, _ = wait_final(api_url, job["id"])
            assert job["status"] == "succeeded", job
            url = f"{api_url}/v1/jobs/{job['id']}/predictions"
            http = httpx.Client(timeout=120, headers=api.headers)  # the admin key
            cold = {"first_prediction_of_the_model_s": first_answer(http, url, images[0])}
            pid = predictor_pid(root / "service" / "state")
            os.kill(pid, signal.SIGKILL)
            # The dead server's last heartbeat still looks recent: the request waits on the list for the new one.
            cold["server_killed_to_first_answer_s"] = first_answer(http, url, images[0])

            device = default_device()
            artifact_dir = root / "service" / "state" / "artifacts"
            model_path = next(artifact_dir.rglob(f"{job['id']}/model.pt"))
            model = load_model(model_path, sha256=sha256_of(model_path), device=device)
            single = [[images[i % len(images)]] for i in range(args.single)]
            batches = [images[: args.batch_images]] * args.batches
            timed_posts(http, url, single[:10] + batches[:1])  # warm both sides' allocators and connections
            timed_direct(model, single[:10] + batches[:1])
            sides = {"direct_1": [], "service_1": [], "direct_64": [], "service_64": []}
            parts = {"service_1": {}, "service_64": {}}
            loaded = batches * 2 * args.in_flight  # per round: each client posts twice --batches
            clients = [httpx.Client(timeout=120, headers=api.headers) for _ in range(args.in_flight)]
            posts_in_flight(clients, url, batches[:1] * args.in_flight)  # their connections
            wall = {"direct_64": 0.0, "service_64": 0.0}
            for _ in range(args.rounds):
                sides["direct_1"] += timed_direct(model, single)
                sides["service_1"] += timed_posts(http, url, single, parts["service_1"])
                sides["direct_64"] += timed_direct(model, batches)
                sides["service_64"] += timed_posts(http, url, batches, parts["service_64"])
                wall["direct_64"] += sum(timed_direct(model, loaded))
                wall["service_64"] += posts_in_flight(clients, url, loaded)
            http.close()
            for client in clients:
                client.close()
            first_step = submit_to_first_step(api_url, args.first_step_jobs) if args.first_step_jobs else None

    latency = {name: summarize_ms(sides[name]) for name in ("direct_1", "service_1")}
    throughput = {
        name: round(args.batch_images / statistics.median(sides[name]), 1) for name in ("direct_64", "service_64")
    }
    figures = {
        "p50_overhead_ms": round(latency["service_1"]["median_ms"] - latency["direct_1"]["median_ms"], 3),
        "p99_overhead_ms": round(latency["service_1"]["p99_ms"] - latency["direct_1"]["p99_ms"], 3),
        "p50_ratio": round(latency["service_1"]["median_ms"] / latency["direct_1"]["median_ms"], 3),
        "throughput_ratio": round(throughput["service_64"] / throughput["direct_64"], 3),
        "throughput_ratio_in_flight": round(wall["direct_64"] / wall["service_64"], 3),
    }
    in_flight = {name: round(args.rounds * len(loaded) * args.batch_images / s, 1) for name, s in wall.items()}
    result = {
        "machine": machine(),
        "device": str(device),
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "config": vars(args),
        "targets": {
            "p50_overhead_ms": "<= 15",
            "throughput_ratio_in_flight": ">= 0.8",
            "submit_to_first_step_s": "< 2",
        },
        "figures": figures,
        "cold": {k: round(v, 3) for k, v in cold.items()},
        "latency_1_image": latency,
        "images_per_second_64": throughput,  # one request at a time: 64 / the median request
        "images_per_second_64_in_flight": in_flight,  # all requests' images / the wall time, args.in_flight at once
        "per_request_64_ms": {name: summarize_ms(sides[name]) for name in ("direct_64", "service_64")},
        # The median of each part of a service request (ms): read and queue are the API's and Redis's, predict
        # the prediction server's (to compare with direct's median), other the client and HTTP.
        "service_parts_median_ms": {
            side: {name: round(statistics.median(ms), 2) for name, ms in by_part.items()}
            for side, by_part in parts.items()
        },
        "submit_to_first_step": first_step,
        "model_bytes": model.nbytes,
        "image_bytes_mean": round(float(np.mean([len(i) for i in images])), 1),
    }
    shown = (
        "figures",
        "cold",
        "latency_1_image",
        "images_per_second_64",
        "images_per_second_64_in_flight",
        "per_request_64_ms",
        "service_parts_median_ms",
    )
    print(json.dumps({k: result[k] for k in shown}, indent=2))
    print(f"wrote {write_results('predictions', result)}")


if __name__ == "__main__":
    main()
