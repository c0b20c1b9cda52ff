from tests.helpers import field, make_type, records_path


def test_create_type_and_record_round_trip(api, ws):
    rt, rows = make_type(
        api,
        ws,
        "Customer",
        field("Name", "text", required=True),
        field("Email", "email", unique=True),
        rows=[{"name": "Ada", "email": "ADA@Example.org"}],
    )
    assert rows[0]["fields"] == {"name": "Ada", "email": "ada@example.org"}
    got = api.get(f"{records_path(ws, rt)}/{rows[0]['id']}", expect=200)
    assert got["fields"]["email"] == "ada@example.org"
