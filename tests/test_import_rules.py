"""The import rules, read from the source and checked in fresh interpreters: app/ never imports worker/, and
importing the API, the CLI or the dispatcher reads no settings."""

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_under_app_imports_worker():
    sources = sorted((ROOT / "app").rglob("*.py"))
    assert len(sources) > 20  # the walk found the package
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name == "worker" or name.startswith("worker.")
        )
        for path in sources
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_rule_sees_function_local_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from worker.celery_app import celery_app\n    import worker.tasks\n")
    assert imported_modules(sample) == {"worker.celery_app", "worker.tasks"}


def test_importing_the_api_the_cli_and_the_dispatcher_reads_no_settings():
    """With a setting that cannot be parsed, the imports succeed and only get_settings() fails."""
    code = (
        "import app.main, app.cli, app.jobs.dispatch, app.core.queue, worker.celery_app\n"
        "from app.core.config import get_settings\n"
        "try:\n    get_settings()\nexcept ValueError as exc:\n    print('settings refused:', type(exc).__name__)\n"
    )
    env = {**os.environ, "FLASHJOBS_HEARTBEAT_S": "not-a-number", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "settings refused: ValidationError"
