"""The wheel ships the templates, the page's JS and the event schema; template_dir
points at the templates, and the static route serves the JS."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_ships_templates(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("resettable_spawner-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {
        "resettable_spawner/templates/home.html",
        "resettable_spawner/static/resettable-home.js",
        "resettable_spawner/static/resettable-home-core.js",
        "resettable_spawner/event-schemas/server-maintenance.yaml",
        "resettable_spawner/rest-api.yml",  # the OpenAPI document of every endpoint
    } <= names
    # The page's JS is a static module now, no longer inlined from the templates.
    assert "resettable_spawner/templates/resettable-home.js" not in names
    entry_points = next(site.glob("*.dist-info/entry_points.txt")).read_text()
    assert "resettable-docker = resettable_spawner:ResettableDockerSpawner" in entry_points

    out = subprocess.run(
        [sys.executable, "-c", "import resettable_spawner; print(resettable_spawner.template_dir)"],
        env={"PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == str(site / "resettable_spawner" / "templates")

    # The installed wheel's static route serves its JS, without login, and nothing else.
    out = subprocess.run(
        [sys.executable, "-c", SERVE_STATIC],
        env={"PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    served = json.loads(out)
    page = (ROOT / "resettable_spawner" / "static" / "resettable-home.js").read_text()
    assert served["resettable-home.js"] == [200, "no-cache", page]
    code, cache, core = served["resettable-home-core.js?v=20250315120000"]
    assert (code, cache) == (200, "max-age=315360000")  # versioned, as RequireJS asks
    assert "define.amd" in core
    for outside in ["../static_handler.py", "%2e%2e/__init__.py", "..%2f__init__.py", "%2fetc%2fpasswd", ""]:
        assert served[outside][0] == 403, outside
    assert served["missing.js"][0] == 404


# As JupyterHub mounts extra_handlers: under its base_url + "hub/".
SERVE_STATIC = """
import asyncio, json
from tornado import httpclient, httpserver, testing, web
from resettable_spawner.static_handler import STATIC_ROUTE

PATHS = ["resettable-home.js", "resettable-home-core.js?v=20250315120000", "../static_handler.py",
         "%2e%2e/__init__.py", "..%2f__init__.py", "%2fetc%2fpasswd", "", "missing.js"]

async def main():
    app = web.Application([("/hub" + STATIC_ROUTE[0],) + tuple(STATIC_ROUTE[1:])])
    sock, port = testing.bind_unused_port()
    httpserver.HTTPServer(app).add_sockets([sock])
    client = httpclient.AsyncHTTPClient()
    served = {}
    for path in PATHS:
        url = f"http://127.0.0.1:{port}/hub/resettable-spawner/static/{path}"
        r = await client.fetch(url, raise_error=False)
        served[path] = [r.code, r.headers.get("Cache-Control"), r.body.decode() if r.code == 200 else ""]
    print(json.dumps(served))

asyncio.run(main())
"""
