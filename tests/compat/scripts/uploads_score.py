"""Multi-file in, JSON out: a @rawhttp script reading multipart uploads and form fields."""

import hashlib

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    if request.method != "POST":
        return AMLResponse(f"method {request.method} is not supported; POST files", 405)
    uploads = []
    for field, storage in request.files.items(multi=True):
        data = storage.read()
        uploads.append({
            "field": field,
            "filename": storage.filename,
            "mimetype": storage.mimetype,
            "content_type": storage.content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        })
    return {"files": uploads, "form": request.form.to_dict(flat=False), "mimetype": request.mimetype}
