"""Parse form bodies (URL-encoded and multipart) for ``AMLRequest.form`` / ``.files``.

Only ``@rawhttp`` scripts that touch ``request.form`` or ``request.files`` pay for this; the stdlib
``email`` parser handles the multipart framing so no werkzeug is needed.
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from shipyard.errors import BadRequestError
from shipyard.scoring.entry_script.multidict import MultiDict


def parse_form(mimetype: str, content_type: str, body: bytes) -> tuple[MultiDict, MultiDict]:
    """``(fields, files)`` of a form body; both empty for other content types."""
    if mimetype == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequestError(f"form body is not UTF-8: {exc}") from None
        return MultiDict(parse_qsl(text, keep_blank_values=True)), MultiDict()
    if mimetype != "multipart/form-data":
        return MultiDict(), MultiDict()
    if "boundary=" not in content_type:
        raise BadRequestError("multipart/form-data request without a boundary in its Content-Type")

    from shipyard.scoring.entry_script.aml_request import FileStorage

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields, files = [], []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files.append((name, FileStorage(payload, filename, name, part.get("Content-Type"))))
        else:
            charset = part.get_content_charset() or "utf-8"
            fields.append((name, payload.decode(charset, errors="replace")))
    return MultiDict(fields), MultiDict(files)
