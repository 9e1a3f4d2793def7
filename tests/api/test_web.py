"""The dashboard's files as the API serves them: the page at `/`, its modules and the vendored chart library."""

import re


def test_the_page_is_served_at_the_root_with_its_modules(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    sources = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert "/static/js/main.js" in sources and "/static/vendor/uplot/uPlot.iife.min.js" in sources
    for path in sources:  # everything the page names is here: no CDN
        assert client.get(path).status_code == 200, path
    assert "javascript" in client.get("/static/js/main.js").headers["content-type"]


def test_every_module_the_page_imports_is_served(client):
    """Follow the ES module imports from main.js: a missing or misnamed file would break the page."""
    seen, todo = set(), ["/static/js/main.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        assert response.status_code == 200, path
        base = path.rsplit("/", 1)[0]
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', response.text):
            parts = base.split("/")
            for part in target.split("/"):
                if part == "..":
                    parts.pop()
                elif part != ".":
                    parts.append(part)
            todo.append("/".join(parts))
    assert {"/static/js/api.js", "/static/js/views/job.js", "/static/js/views/compare.js"} <= seen
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)"', client.get("/").text))
    assert preloaded == seen - {"/static/js/main.js"}  # fetched in one round, none forgotten


def test_the_vendored_library_keeps_its_licence_and_version(client):
    assert "MIT License" in client.get("/static/vendor/uplot/LICENSE").text
    assert "1.6.32" in client.get("/static/vendor/uplot/VERSION.txt").text


def test_the_page_stays_out_of_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/static") for path in paths)
    assert client.get("/static/nope.js").status_code == 404
