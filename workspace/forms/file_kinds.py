"""Which files a file field of a public form takes: any, images or documents.

Judged by the content type sniffed from the file's bytes (``file_content.sniff``), never by
its name or the type the browser declares, so a program renamed ``invoice.pdf`` is still
refused by a form that asks for documents.
"""

from __future__ import annotations

#: The kinds a builder offers, and how it names them.
KINDS = {
    "any": "Any file",
    "images": "Images (JPEG, PNG, GIF, WebP, HEIC...)",
    "documents": "Documents (PDF, office files, text)",
}
IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/apng",
        "image/heic",
        "image/avif",
        "image/tiff",
        "image/bmp",
    }
)
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/rtf",
        "text/plain",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)


def kind_allows(kinds: str | None, content_type: str) -> bool:
    """Whether a file of the sniffed ``content_type`` is of the kind a file field takes."""
    if kinds == "images":
        return content_type in IMAGE_TYPES
    if kinds == "documents":
        return content_type in DOCUMENT_TYPES
    return True
