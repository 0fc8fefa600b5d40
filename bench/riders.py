"""What riders' phones send, for the load harness and the tests that talk to a real server: multipart bodies."""
from __future__ import annotations

import uuid


def multipart_body(fields: dict, files: dict) -> tuple[bytes, str]:
    """Encode fields and files ({name: (filename, bytes)}) as multipart/form-data, the way curl -F does.

    Returns the body and its Content-Type (with the boundary).
    """
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
