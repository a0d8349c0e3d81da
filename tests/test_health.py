def test_healthz_reports_database_and_redis(client, redis_url) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_degraded_when_redis_is_down(app, client) -> None:
    conn = app.extensions.pop("ticketing_redis", None)
    app.config["REDIS_URL"], saved = "redis://127.0.0.1:1/0", app.config["REDIS_URL"]
    try:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json["redis"].startswith("error") and response.json["database"] == "ok"
    finally:
        app.config["REDIS_URL"] = saved
        app.extensions.pop("ticketing_redis", None)
        if conn is not None:
            app.extensions["ticketing_redis"] = conn


def test_favicon_is_the_brand_mark(client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")
