"""Cursors of the review queue: where a page of pairs ended, in the order the queue shows.

The queue is ordered by score, then id, both descending, so a page ends at a (score, id)
position. The score travels as ``float.hex`` (exact: the next page compares it for equality
with the stored value), the cursor as URL-safe base64 so clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii

from workspace.errors import BadRequest


def encode(score: float, pair_id: int) -> str:
    raw = f"{float(score).hex()}:{pair_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[float, int]:
    """The (score, id) a cursor holds; 400 naming ``after`` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        score_text, id_text = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        score, pair_id = float.fromhex(score_text), int(id_text)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise BadRequest("after: not a cursor this server handed out") from None
    if not 0 < pair_id < 2**63 or score != score:  # NaN
        raise BadRequest("after: not a cursor this server handed out")
    return score, pair_id
