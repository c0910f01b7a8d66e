"""The world builds and a manager sees their own profile."""


def test_me(client, world):
    r = client.get("/api/v1/me", headers=world.mgr_s1.headers)
    assert r.status_code == 200
    assert [g["role"] for g in r.json["roles"]] == ["resident", "manager"]
