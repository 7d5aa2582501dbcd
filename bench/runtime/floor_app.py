"""The floor: a bare ASGI app under uvicorn that answers every request with a constant.

No framework, no routing, no validation: whatever a model server adds on top of uvicorn shows up
as the gap between this and the server's own constant ``score.py``. It still reads the whole
request body, as any real endpoint must.
"""

BODY = b'{"result":[0]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more_body = True
    while more_body:
        message = await receive()
        more_body = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
