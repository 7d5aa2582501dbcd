"""A @rawhttp script that reports every part of the request it can see, the way scripts read them.

It iterates ``request.headers`` as (name, value) pairs, as Microsoft's samples do, and answers
what it saw as JSON so the differential test compares the script's view on both servers.
"""

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse

SKIPPED = {"host", "user-agent", "accept-encoding", "connection", "accept", "content-length"}


def init():
    pass


@rawhttp
def run(request):
    headers = [[name, value] for name, value in request.headers if name.lower() not in SKIPPED]
    seen = {
        "method": request.method,
        "path": request.path,
        "full_path": request.full_path,
        "args": request.args.to_dict(flat=False),
        "first_arg": request.args.get("a"),
        "headers": headers,
        "content_type": request.content_type,
        "mimetype": request.mimetype,
        "mimetype_params": dict(request.mimetype_params),
        "content_length": request.content_length,
        "is_json": request.is_json,
        "data": request.get_data(as_text=True),
        "cookies": dict(request.cookies),
        "query_string": request.query_string.decode(),
        "form": request.form.to_dict(flat=False),
        "files": sorted(request.files.keys()),
        "values": request.values.to_dict(flat=False),
        "url": request.url.replace(request.host, "HOST"),
        "base_url": request.base_url.replace(request.host, "HOST"),
        "scheme": request.scheme,
        "accept_json": request.accept_mimetypes.accept_json,
        "if_none_match": request.if_none_match.to_header(),
        "authorization": request.headers.get("Authorization"),
        "user_agent_header": "User-Agent" in request.headers,
        "content_encoding": request.content_encoding,
    }
    if request.is_json:
        seen["json"] = request.get_json(silent=True)
    return AMLResponse(seen, 200, json_str=True)
