"""The application as a whole: health and readiness, and what the API process imports."""

import subprocess
import sys


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_api_never_imports_torch(service_env):
    code = "import sys, app.main, app.cli; assert 'torch' not in sys.modules and 'flash' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
