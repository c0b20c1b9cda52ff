"""Comment text as HTML: light formatting, links and @mentions, never the user's own HTML.

markdown-it-py does the parsing, in its "zero" preset with only what a comment needs turned
on: **bold**, _italic_, `code`, line breaks, paragraphs and bare links (found by
linkify-it-py). Raw HTML is off, so ``<script>`` arrives as text, and every piece of text is
escaped by the renderer. Links get ``rel="noopener nofollow"``: they point wherever a
commenter wanted. Mentions of members (see :mod:`workspace.work.mentions`) become a
highlighted name; anything else after an ``@`` stays as typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from workspace.work.mentions import MENTION, Member

GLUED = frozenset("@.+-_")


def render(text: str, people: Mapping[str, Member]) -> Markup:
    """The comment as safe HTML; ``people`` are the members a mention may name."""
    return Markup(_MD.render(text, {"people": people}))


def _mention(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "@":
        return False
    before = state.src[state.pos - 1] if state.pos > 0 else " "
    if before.isalnum() or before in GLUED:
        return False
    match = MENTION.match(state.src, state.pos)
    if match is None:
        return False
    member = state.env.get("people", {}).get(match.group(1).lower())
    if member is None:
        return False
    if not silent:
        token = state.push("mention", "", 0)
        token.meta = {"name": member.name, "handle": member.handle}
    state.pos = match.end()
    return True


def _render_mention(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    meta: dict[str, Any] = tokens[idx].meta
    return str(
        Markup('<span class="mention" title="@{}">@{}</span>').format(meta["handle"], meta["name"])
    )


def _render_link_open(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    tokens[idx].attrSet("rel", "noopener nofollow")
    return renderer.renderToken(tokens, idx, options, env)


def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": True, "breaks": True, "typographer": False})
    md.enable(["emphasis", "backticks", "newline", "linkify"])
    md.inline.ruler.before("linkify", "mention", _mention)
    md.add_render_rule("mention", _render_mention)
    md.add_render_rule("link_open", _render_link_open)
    return md


_MD = _parser()
