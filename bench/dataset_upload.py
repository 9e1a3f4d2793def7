"""Dataset uploads: throughput against copying the same bytes on disk, and the API's memory while it takes them.

What it measures
    An archive of photo-like JPEGs (640x480, quality 90, ~90 KB each; train/ and val/, two classes, stored
    uncompressed as zip does for JPEGs) of --megabytes MB is written to a temporary folder. Then, in one run:
    copy      shutil.copyfile of the archive to another file in the same folder (the page cache holds it for
              both sides; neither fsyncs): the disk's and the kernel's share of any upload.
    upload    POST /v1/datasets with the archive streamed from the file to a real uvicorn API (SQLite, its
              own Redis): streamed to disk with its sha256, unpacked entry by entry with every check, every
              image decoded by Pillow (threads, as many as cores up to 4), the contact sheet drawn; until the
              201 with the dataset `ready`.
    again     the same bytes once more: streamed and hashed, then answered 200 with the first dataset (no
              unpacking, no decoding): the cost of the streaming path alone.
    Ratios: copy seconds / upload seconds (throughput relative to a copy; target >= 0.5) and copy / again.
    Also the CPU seconds each took (the copy in this process, the uploads in the API process, all its
    threads): on a shared machine wall times follow the load, CPU time much less.
    Memory: the API process's resident set when idle (after a small warm-up upload) and its peak (VmHWM, reset
    through /proc/PID/clear_refs after the warm-up, so start-up peaks do not count) during the big upload;
    the target is flat, under 100 MB over idle.

How to run
    .venv/bin/python bench/dataset_upload.py                  # 300 MB, ~2 min on 2 loaded CPU cores
    .venv/bin/python bench/dataset_upload.py --megabytes 50   # quick look
Output
    bench/results/dataset_upload.json; docs/benchmarks.md reports a run.
"""

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np

# Run as a script, bench/ is on sys.path; importing common puts the repository there too, for app and tests.
from common import loadavg, machine, write_results
from PIL import Image

from app.core.embedded_redis import start_redis_server
from tests.helpers import free_port

DISTINCT_IMAGES = 32  # encoded once each, stored under many names: the API decodes every entry anyway


def photo_jpeg(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """Smooth colour waves plus sensor-like noise: a JPEG that compresses like a photo."""
    rng = np.random.default_rng(seed)
    width, height = size
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    waves = np.sin(x * rng.uniform(3, 12) + y * rng.uniform(3, 12) + rng.uniform(0, 6, 3)) * 100 + 128
    out = io.BytesIO()
    Image.fromarray(np.clip(waves + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)).save(
        out, "JPEG", quality=90
    )
    return out.getvalue()


def write_archive(path: Path, megabytes: int) -> int:
    """A hymenoptera-shaped zip of about `megabytes` MB; returns the number of images in it."""
    images = [photo_jpeg(seed) for seed in range(DISTINCT_IMAGES)]
    count, written = 0, 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        while written < megabytes * 1024 * 1024:
            split = "val" if count % 5 == 4 else "train"
            data = images[count % DISTINCT_IMAGES]
            archive.writestr(f"photos/{split}/{('ants', 'bees')[count % 2]}/{count:06d}.jpg", data)
            written += len(data)
            count += 1
    return count


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads: a figure the machine's load does not inflate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


AUTH: dict[str, str] = {}  # the key start_api made


def start_api(root: Path, redis_port: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "FLASHJOBS_STATE_DIR": str(root / "state"),
        "FLASHJOBS_ARTIFACT_DIR": str(root / "artifacts"),
        "FLASHJOBS_DATABASE_URL": f"sqlite:///{root / 'flashjobs.db'}",
        "FLASHJOBS_RECONCILE_IN_API": "false",
        "FLASHJOBS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "PYTHONPATH": str(Path(__file__).parents[1]),
    }
    log = (root / "api.log").open("ab")
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:  # the API has migrated the database
                key = subprocess.run(
                    [sys.executable, "-c", "from tests.helpers import make_key; print(make_key('submit'))"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                AUTH["Authorization"] = f"Bearer {key.stdout.strip()}"
                return api, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    api.kill()
    raise RuntimeError(f"the API did not come up; see {root / 'api.log'}")


def upload(url: str, archive: Path) -> tuple[float, httpx.Response]:
    def chunks():
        with archive.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                yield chunk

    started = time.perf_counter()
    response = httpx.post(
        f"{url}/v1/datasets", content=chunks(), headers={**AUTH, "Content-Type": "application/zip"}, timeout=3600
    )
    return time.perf_counter() - started, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=300)
    parser.add_argument("--output", default="dataset_upload")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flashjobs-bench-upload-") as tmp:
        root = Path(tmp)
        archive = root / "photos.zip"
        images = write_archive(archive, args.megabytes)
        size = archive.stat().st_size
        redis_port = free_port()
        redis = start_redis_server(port=redis_port, data_dir=root / "redis")
        api, url = start_api(root, redis_port)
        try:
            small = root / "small.zip"
            write_archive(small, 1)
            upload(url, small)  # warm-up: imports, the first SQL, Pillow's codecs
            idle_kib = rss_kib(api.pid, "VmRSS")
            Path(f"/proc/{api.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            started, started_cpu = time.perf_counter(), time.process_time()
            shutil.copyfile(archive, root / "copy.zip")
            copy_s, copy_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
            (root / "copy.zip").unlink()
            before = cpu_s(api.pid)
            upload_s, response = upload(url, archive)
            upload_cpu_s, before = cpu_s(api.pid) - before, cpu_s(api.pid)
            peak_kib = rss_kib(api.pid, "VmHWM")
            dataset = response.json()
            assert response.status_code == 201 and dataset["status"] == "ready", response.text
            again_s, again = upload(url, archive)
            again_cpu_s = cpu_s(api.pid) - before
            assert again.status_code == 200 and again.json()["id"] == dataset["id"], again.text
        finally:
            api.terminate()
            api.wait(timeout=30)
            redis.terminate()
            redis.wait(timeout=10)

    result = {
        "machine": machine(),
        "loadavg_after": loadavg(),
        "archive": {
            "megabytes": round(size / 2**20, 1),
            "images": images,
            "image": "640x480 JPEG q90",
            "validated_images": dataset["images"],
        },
        "copy_s": round(copy_s, 3),
        "upload_validate_s": round(upload_s, 3),
        "upload_again_s": round(again_s, 3),
        "throughput_mb_s": {
            "copy": round(size / 2**20 / copy_s, 1),
            "upload": round(size / 2**20 / upload_s, 1),
            "again": round(size / 2**20 / again_s, 1),
        },
        "ratio_upload_vs_copy": round(copy_s / upload_s, 3),
        "ratio_again_vs_copy": round(copy_s / again_s, 3),
        "images_per_s": round(images / upload_s, 1),
        # CPU seconds (the copy's in this process, the uploads' in the API process): what the work costs
        # whatever else runs on the machine.
        "cpu_s": {"copy": round(copy_cpu_s, 3), "upload": round(upload_cpu_s, 2), "again": round(again_cpu_s, 2)},
        "cpu_ms_per_image": round(1000 * (upload_cpu_s - again_cpu_s) / images, 2),
        "api_rss_idle_mb": round(idle_kib / 1024, 1),
        "api_peak_over_idle_mb": round((peak_kib - idle_kib) / 1024, 1),
    }
    print(result)
    print(f"results: {write_results(args.output, result)}")


if __name__ == "__main__":
    main()
