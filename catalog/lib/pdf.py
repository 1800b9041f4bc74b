"""PDF rendering with WeasyPrint: a template in, a complete file out or an error, never half a file.

The PDF is rendered in memory, written to a temporary file in the destination directory, flushed to
disk, and only then renamed over the destination (``os.replace`` is atomic on one filesystem). A
render that fails (a template error, a missing font, a WeasyPrint exception) leaves no file behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

# WeasyPrint reports every layout step at INFO; a 68-page dossier would fill the worker log.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


class PdfError(Exception):
    """The PDF could not be produced; the message says why, for the tracked job's error."""


@dataclass(frozen=True)
class PdfFile:
    path: Path
    size: int
    sha256: str
    pages: int


# Debian's fonts-dejavu-core (installed by .ci/run); PDF_FONT_FILES in settings overrides.
DEFAULT_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                      "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def required_fonts() -> list[Path]:
    return [Path(p) for p in getattr(settings, "PDF_FONT_FILES", DEFAULT_FONT_FILES)]


def _font_css() -> str:
    rules = []
    for index, path in enumerate(required_fonts()):
        if not path.is_file():
            raise PdfError(f"font missing: {path} (install it or set PDF_FONT_FILES)")
        weight = "bold" if "Bold" in path.name else "normal"
        rules.append(f'@font-face {{ font-family: "ClearancePrint"; src: url("{path.as_uri()}"); '
                     f"font-weight: {weight}; }} /* {index} */")
    return "\n".join(rules)


def render_pdf(template_name: str, context: dict[str, Any]) -> tuple[bytes, int]:
    """(PDF bytes, page count). Raises PdfError with the cause."""
    from weasyprint import HTML  # imported late: it loads Pango and fonts, which pages do not need

    try:
        html = render_to_string(template_name, {**context, "font_css": _font_css()})
        document = HTML(string=html, base_url=str(settings.BASE_DIR)).render()
        return document.write_pdf(), len(document.pages)
    except PdfError:
        raise
    except Exception as exc:
        raise PdfError(f"{type(exc).__name__}: {exc}") from exc


def write_pdf_atomically(destination: Path, template_name: str, context: dict[str, Any]) -> PdfFile:
    data, pages = render_pdf(template_name, context)
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise PdfError("the renderer produced an incomplete PDF")
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", suffix=".pdf", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, destination)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return PdfFile(path=destination, size=len(data), sha256=hashlib.sha256(data).hexdigest(), pages=pages)
