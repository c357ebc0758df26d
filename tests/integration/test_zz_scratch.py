import logging, pytest, urllib.parse
from tests.conftest import PASSWORD

@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_repro(app, client):
    logging.disable(logging.WARNING)
    for v in app.appbuilder.baseviews:
        if type(v).__name__ == "ProjectApi":
            print(type(v._filters), {k: [type(f).__name__ for f in fs] for k, fs in v._filters._search_filters.items()})
    r = client.post("/api/v1/security/login", json={"username": "admin", "password": PASSWORD, "provider": "db"})
    h = {"Authorization": "Bearer " + r.get_json()["access_token"]}
    q = "(filters:!((col:name,opr:eq,value:!(a,b))))"
    r = client.get(f"/api/v1/project/?q={urllib.parse.quote(q)}", headers=h)
    print(r.status_code, r.data[:300])
