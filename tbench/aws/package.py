"""The functions' deployment package: `servers/lambda_ws/handlers.py` in a zip archive.

The handlers import only the standard library and boto3 (which the Lambda runtime has), so
the archive holds that one module, at its root (the template's `Handler: handlers.<name>`).
Entries carry a fixed timestamp, so the same code always makes the same bytes and S3 key.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from servers.lambda_ws.template import TEMPLATE_PATH

HANDLER_MODULE = TEMPLATE_PATH.with_name("handlers.py")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can carry


@dataclass(frozen=True)
class CodePackage:
    """The archive's bytes and the S3 key they go to (named by their digest)."""

    data: bytes
    key: str


def package_handlers(module: Path = HANDLER_MODULE) -> CodePackage:
    """Zip the handler module; OSError if it cannot be read."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entry = zipfile.ZipInfo(module.name, date_time=FIXED_TIME)
        entry.external_attr = 0o644 << 16  # readable by the runtime's user
        archive.writestr(entry, module.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    return CodePackage(data, f"code/{hashlib.sha256(data).hexdigest()[:16]}.zip")
