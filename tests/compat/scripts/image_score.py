"""Binary file in, image out: a @rawhttp script that 'inverts' an uploaded picture.

Shaped like the image-processing samples (read the upload or the raw body, answer image bytes
with an image mimetype), without an imaging library.
"""

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


def invert(data: bytes) -> bytes:
    return bytes(255 - byte for byte in data)


@rawhttp
def run(request):
    if request.method != "POST":
        return AMLResponse("POST an image", 400)
    upload = request.files.get("image")
    data = upload.read() if upload is not None else request.get_data()
    if not data:
        return AMLResponse("no image in the request", 400)
    if request.args.get("as") == "png":
        return AMLResponse(invert(data), 200, {"Content-Type": "image/png"})
    response = AMLResponse(invert(data), 200)
    response.mimetype = "image/jpg"
    return response
