"""The card with and without the access journal's one INSERT: median ms (SQLite, 200 customers).

Run: .venv/bin/python bench/journal.py
"""

import statistics
import sys
import tempfile
import time

sys.path.insert(0, ".")
from flask_migrate import upgrade

from app import access, create_app
from config import TestConfig

d = tempfile.mkdtemp()
app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{d}/b.db", INSTANCE_DIR=d, SECRET_KEY="x")
with app.app_context():
    upgrade(revision="heads")
    access.sync_roles()
    from app.demo import seed_demo
    from app.extensions import db
    from app.models import Order

    sm = app.appbuilder.sm
    sm.add_user(
        "manager",
        "M",
        "T",
        "m@t.example",
        [sm.find_role(access.ROLES["manager"].name)],
        password="Pw-123456-xyz",
    )
    db.session.commit()
    seed_demo(customers=200, seed=3)
    cid = db.session.query(Order.customer_id).order_by(Order.id).first()[0]
c = app.test_client()
c.post("/login/", data={"username": "manager", "password": "Pw-123456-xyz"})
url = f"/customerview/show/{cid}"


def run(n=40):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = c.get(url)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return statistics.median(out)


for _ in range(10):
    c.get(url)
real = access.journal
res = {"with": [], "without": []}
for _ in range(5):
    access.journal = real
    res["with"].append(run())
    access.journal = lambda *a, **k: None
    res["without"].append(run())
access.journal = real
print({k: round(statistics.median(v), 2) for k, v in res.items()}, "ms (median of 5 runs × 40 requests)")
