"""run() raises for some inputs; the server must answer 500 and keep serving."""

import json


def init():
    pass


def run(raw_data):
    data = json.loads(raw_data)
    if data.get("explode"):
        raise ValueError(f"cannot score {data['explode']!r}")
    return {"ok": data}
