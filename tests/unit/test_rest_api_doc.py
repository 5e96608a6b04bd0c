"""The OpenAPI document (resettable_spawner/rest-api.yml) describes exactly the routes in
``extra_handlers``: every route has its path, with an operation for each verb its handler
implements, and the document names no path or verb that no route serves."""

import re
from pathlib import Path

import yaml
from tornado.web import RequestHandler

import resettable_spawner
from resettable_spawner.handlers import extra_handlers

DOC = Path(resettable_spawner.__file__).parent / "rest-api.yml"
VERBS = ("get", "post", "put", "patch", "delete")
# The route's regex groups, as the document's path parameters.
GROUPS = {
    r"(?P<user_name>[^/]+)": "{name}",
    r"(?P<server_name>[^/]+)": "{server}",
    r"(?P<backup_id>[^/]+)": "{backup_id}",
    r"(?P<bulk_id>[^/]+)": "{bulk_id}",
    r"(.*)": "{path}",
}


def doc():
    return yaml.safe_load(DOC.read_text())


def route_path(pattern):
    path = pattern
    for group, param in GROUPS.items():
        path = path.replace(group, param)
    assert not re.search(r"[()\[\]\\^$?*+]", path), f"a route group the document cannot name: {pattern}"
    return path


def served():
    """{document path: {verbs its handler implements}}."""
    out = {}
    for route in extra_handlers:
        pattern, handler = route[0], route[1]
        verbs = {v for v in VERBS if getattr(handler, v) is not getattr(RequestHandler, v)}
        out.setdefault(route_path(pattern), set()).update(verbs)
    return out


def test_every_route_is_documented_and_every_documented_path_is_served():
    documented = {path: {v for v in ops if v in VERBS} for path, ops in doc()["paths"].items()}
    routes = served()
    assert sorted(set(routes) - set(documented)) == [], "routes missing from rest-api.yml"
    assert sorted(set(documented) - set(routes)) == [], "paths in rest-api.yml that no route serves"
    for path, verbs in routes.items():
        assert documented[path] == verbs, path


def test_each_operation_names_its_scopes_and_its_path_parameters():
    spec = doc()
    for path, ops in spec["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for verb, op in ops.items():
            params = []
            for p in op.get("parameters", []):
                if "$ref" in p:
                    p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
                params.append(p)
            assert {p["name"] for p in params if p["in"] == "path"} == names, (verb, path)
            if path.startswith("/api/"):
                scopes = [s for req in op["security"] for s in req.get("oauth2", [])]
                assert scopes, (verb, path)
                assert "403" in op["responses"], (verb, path)
                # What the path names may not exist (or not be the caller's).
                assert "404" in op["responses"] or not names, (verb, path)


def test_the_document_is_valid_openapi():
    import schemathesis

    schema = schemathesis.openapi.from_path(str(DOC))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(v) for v in served().values())
