"""A :class:`~bot.render.chart_scene.Scene` drawn as PNG bytes, with Pillow.

Pillow is imported on the first chart drawn, never with this module: the bot starts
without it. Items are drawn in the scene's order on an opaque RGB image:

- smooth strokes (the audience line) and dots are drawn at twice the size on a
  one-channel mask of their bounding box, halved (a 2x2 box filter: antialiasing), and
  their colour is pasted through it;
- other strokes are axis-aligned (grid, ticks, threshold lines): drawn crisp, dashed
  by hand;
- texts fall back font by font, character by character: DejaVu Sans (shipped in the
  package: bot/render/fonts/) first, then the CJK fonts installed
  (``CJK_FONTS``, found in the system's font folders), so a Chinese group name is
  drawn in a font that has it.

The PNG has a palette made of the scene's colours and their blends with white and
with the firing shade (a chart has no other colours), mapped without dithering: about
2 ms, against 11 ms for computing a palette from the pixels (FASTOCTREE), for a PNG of
about 30 KB at zlib level 3 (level 6 saves 6 KB for 5 ms more).

Charts are drawn side by side: each has its own image. Two locks: FreeType's, held
while a text not seen before is rendered (its mask is kept: ticks, legends and labels
come back chart after chart); and the fonts', held while a font is looked for or read
(once per process: the burst of charts after a start waits for one thread to read them,
rather than every answer thread reading the same fonts at once).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from bot.render.chart_model import FIRING_COLOUR
from bot.render.chart_scene import WHITE, Dot, Label, Scene, Shade, Stroke

if TYPE_CHECKING:  # importing Pillow costs ~10 MB: only when a chart is drawn
    from PIL import Image as PILImage
    from PIL import ImageDraw

#: Fonts for scripts DejaVu lacks (Chinese, Japanese, Korean), used when installed.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
)
#: Where fonts are installed (as fontconfig's defaults), searched for CJK_FONTS.
FONT_FOLDERS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
)
#: zlib's level for the PNG: 3 is half the time of 6 for a few KB more.
COMPRESS_LEVEL = 3
#: Steps of each colour's blend with the backgrounds, in the palette.
_BLENDS = 6


def rasterise(scene: Scene) -> bytes:
    """The scene as PNG bytes, ``scene.width`` x ``scene.height``."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (scene.width, scene.height), WHITE)
    draw = ImageDraw.Draw(image)
    for item in scene.items:
        if isinstance(item, Shade):
            _shade(image, item)
        elif isinstance(item, Stroke):
            if item.smooth:
                _smooth_stroke(image, item)
            else:
                _crisp_stroke(image, draw, item)
        elif isinstance(item, Dot):
            _dot(image, item)
        else:
            _label(image, item)
    return _png(image, _palette(scene))


def showable(text: str) -> bool:
    """Whether some font the chart uses has a glyph for every character of ``text``."""
    return all(ch.isspace() or _face_for(ch, False) is not None for ch in text)


# --------------------------------------------------------------------------- shapes


def _box(image: PILImage.Image, box: tuple[float, float, float, float]) -> tuple[int, ...]:
    x0, y0, x1, y1 = box
    width, height = image.size
    return (
        max(0, round(x0)),
        max(0, round(y0)),
        min(width, round(x1)),
        min(height, round(y1)),
    )


def _shade(image: PILImage.Image, shade: Shade) -> None:
    from PIL import Image

    box = _box(image, shade.box)
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    region = image.crop(box)
    colour = Image.new("RGB", region.size, shade.colour)
    image.paste(Image.blend(region, colour, shade.opacity), box[:2])


def _crisp_stroke(image: PILImage.Image, draw: ImageDraw.ImageDraw, stroke: Stroke) -> None:
    width = max(1, round(stroke.width))
    for run in stroke.runs:
        points = [(round(x), round(y)) for x, y in run]
        if stroke.dash is None:
            draw.line(points, fill=stroke.colour, width=width)
            continue
        for a, b in itertools.pairwise(points):
            if a[1] == b[1]:
                _dashed_across(image, a, b, width, stroke)
            else:
                for dash in _dashes(a, b, stroke.dash):
                    draw.line(dash, fill=stroke.colour, width=width)


def _dashed_across(
    image: PILImage.Image, a: tuple[int, int], b: tuple[int, int], width: int, stroke: Stroke
) -> None:
    """A horizontal dashed line, pasted through a mask of its dashes (one call, not one
    per dash)."""
    from PIL import Image

    assert stroke.dash is not None
    left, right = min(a[0], b[0]), max(a[0], b[0])
    mask = Image.frombytes("L", (right - left, width), _dash_row(right - left, stroke.dash) * width)
    image.paste(stroke.colour, (left, a[1] - width // 2), mask)


@functools.lru_cache(maxsize=64)
def _dash_row(length: int, pattern: tuple[float, float]) -> bytes:
    on, off = pattern
    period = on + off
    return bytes(255 if (i % period) < on else 0 for i in range(length))


def _dashes(
    a: tuple[int, int], b: tuple[int, int], pattern: tuple[float, float]
) -> Iterator[list[tuple[float, float]]]:
    """The "on" pieces of the segment a-b."""
    on, off = pattern
    length = math.dist(a, b)
    if length == 0:
        return
    ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
    at = 0.0
    while at < length:
        stop = min(length, at + on)
        yield [(a[0] + ux * at, a[1] + uy * at), (a[0] + ux * stop, a[1] + uy * stop)]
        at = stop + off


def _smooth_stroke(image: PILImage.Image, stroke: Stroke) -> None:
    """Drawn at twice the size on a mask of its bounding box, halved, pasted."""
    from PIL import Image, ImageDraw

    if not any(stroke.runs):
        return
    xs, ys = zip(*(xy for run in stroke.runs for xy in run), strict=True)
    pad = stroke.width + 2
    box = _box(image, (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad))
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    left, top = box[0], box[1]
    mask = Image.new("L", (2 * (box[2] - left), 2 * (box[3] - top)), 0)
    draw = ImageDraw.Draw(mask)
    width = max(1, round(2 * stroke.width))
    for run in stroke.runs:
        scaled = [(2 * (x - left), 2 * (y - top)) for x, y in run]
        if len(scaled) == 1:
            x, y = scaled[0]
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
        else:
            draw.line(scaled, fill=255, width=width)
    image.paste(stroke.colour, box[:2], mask.reduce(2))


def _dot(image: PILImage.Image, dot: Dot) -> None:
    from PIL import Image, ImageDraw

    ring = 1.5 if dot.edge else 0.0
    reach = dot.radius + ring + 1
    x, y = dot.at
    box = _box(image, (x - reach, y - reach, x + reach, y + reach))
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    size = (2 * (box[2] - box[0]), 2 * (box[3] - box[1]))
    cx, cy = 2 * (x - box[0]), 2 * (y - box[1])
    for radius, colour in ((dot.radius + ring, WHITE), (dot.radius, dot.colour)):
        if radius == dot.radius + ring and not ring:
            continue
        mask = Image.new("L", size, 0)
        r = 2 * radius
        ImageDraw.Draw(mask).ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        image.paste(colour, box[:2], mask.reduce(2))


# --------------------------------------------------------------------------- text

_text_lock = threading.Lock()  # a FreeType face renders one text at a time


def _label(image: PILImage.Image, label: Label) -> None:
    size = max(1, round(label.size))
    glyphs = [_glyphs(face, size, chunk) for face, chunk in font_runs(label.text, label.bold)]
    ascent, descent = _metrics(_chain(label.bold)[0], size)
    total = sum(g.advance for g in glyphs)
    x, y = label.at
    h, v = label.anchor[0], label.anchor[1]
    left = x - {"l": 0.0, "m": total / 2, "r": total}[h]
    baseline = {"a": y + ascent, "t": y + ascent, "m": y + (ascent - descent) / 2}.get(
        v, y - descent if v in "db" else y
    )
    if label.vertical:  # turned a quarter left (read bottom to top), centred on ``at``
        from PIL import Image

        line = Image.new("L", (math.ceil(total) + 2, ascent + descent + 2), 0)
        at = 1.0
        for g in glyphs:
            line.paste(g.mask, (round(at + g.dx), round(ascent + 1 + g.dy)))
            at += g.advance
        turned = line.transpose(Image.Transpose.ROTATE_90)
        image.paste(
            label.colour, (round(x - turned.width / 2), round(y - turned.height / 2)), turned
        )
        return
    if label.backdrop:
        box = (left - 3, baseline - ascent - 1, left + total + 3, baseline + descent + 1)
        _shade(image, Shade("backdrop", box, WHITE, label.backdrop))
    for g in glyphs:
        image.paste(label.colour, (round(left + g.dx), round(baseline + g.dy)), g.mask)
        left += g.advance


class _Glyphs(NamedTuple):
    """A text's coverage mask, where it starts from the pen (``dx``, ``dy`` from the
    baseline) and how far it moves the pen."""

    mask: Any
    dx: int
    dy: int
    advance: float


@functools.lru_cache(maxsize=2048)
def _glyphs(face: tuple[str, int], size: int, text: str) -> _Glyphs:
    """Rendered once: ticks, legends and labels come back chart after chart."""
    from PIL import Image, ImageDraw

    font = _font(face, size)
    with _text_lock:
        left, top, right, bottom = font.getbbox(text, anchor="ls")
        mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
        ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor="ls")
        return _Glyphs(mask, left, top, font.getlength(text))


@functools.cache
def _metrics(face: tuple[str, int], size: int) -> tuple[int, int]:
    with _text_lock:
        ascent, descent = _font(face, size).getmetrics()
    return ascent, descent


def font_runs(text: str, bold: bool) -> list[tuple[tuple[str, int], str]]:
    """``text`` cut where the font that has its characters changes: each piece with
    its font's file and face index."""
    chain = _chain(bold)
    runs: list[tuple[tuple[str, int], str]] = []
    for ch in text:
        face = chain[0] if ch.isspace() else (_face_for(ch, bold) or chain[0])
        if runs and runs[-1][0] == face:
            runs[-1] = (face, runs[-1][1] + ch)
        else:
            runs.append((face, ch))
    return runs


@functools.cache
def _face_for(ch: str, bold: bool) -> tuple[str, int] | None:
    code = ord(ch)
    return next((face for face in _chain(bold) if code in _cmap(face)), None)


@functools.cache
def _chain(bold: bool) -> tuple[tuple[str, int], ...]:
    """DejaVu Sans (bold or not), then the CJK fonts installed."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ((str(FONTS_FOLDER / name), 0), *_cjk_faces())


#: DejaVu Sans and DejaVu Sans Bold, shipped in the package (their licence beside them).
FONTS_FOLDER = Path(__file__).resolve().parent / "fonts"


_T = TypeVar("_T")
_fonts_lock = threading.RLock()


def _loaded_once(load: Callable[..., _T]) -> Callable[..., _T]:
    """``load``, cached, and computed by one thread at a time (the others wait for it)."""
    cached = functools.cache(load)

    @functools.wraps(load)
    def once(*args: Any) -> _T:
        with _fonts_lock:
            return cached(*args)

    once.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return once


@_loaded_once
def _cjk_faces() -> tuple[tuple[str, int], ...]:
    """The installed fonts of CJK_FONTS, in that order (a collection's face by index)."""
    from PIL import ImageFont

    found: dict[str, tuple[str, int]] = {}
    for folder in FONT_FOLDERS:
        root = Path(os.path.expanduser(folder))
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".ttf", ".otf", ".ttc"):
                continue
            for index in range(16 if path.suffix.lower() == ".ttc" else 1):
                try:
                    family = ImageFont.truetype(str(path), 10, index=index).getname()[0]
                except OSError:
                    break
                if family in CJK_FONTS:
                    found.setdefault(family, (str(path), index))
    return tuple(found[name] for name in CJK_FONTS if name in found)


@_loaded_once
def _cmap(face: tuple[str, int]) -> frozenset[int]:
    """The characters ``face`` has a glyph for."""
    from fontTools.ttLib import TTFont

    path, index = face
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap() or ())


@_loaded_once
def _font(face: tuple[str, int], size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(face[0], size, index=face[1])


def forget_fonts() -> None:
    """Look for the fonts again at the next chart (after fonts were installed)."""
    for cached in (_cjk_faces, _chain, _face_for, _glyphs, _metrics):
        cached.cache_clear()


# --------------------------------------------------------------------------- PNG


def _palette(scene: Scene) -> PILImage.Image:
    """A palette image of the scene's colours blended with white and with the firing
    shade, in _BLENDS steps each."""

    colours: dict[str, None] = {WHITE: None, FIRING_COLOUR: None}
    for item in scene.items:
        colours[item.colour] = None
    return _palette_of(tuple(colours))


@functools.cache
def _palette_of(colours: tuple[str, ...]) -> PILImage.Image:
    from PIL import Image

    white = (255, 255, 255)
    shaded = _mix(_rgb(FIRING_COLOUR), white, 0.16)
    entries: dict[tuple[int, int, int], None] = {white: None, shaded: None}
    for colour in colours:
        rgb = _rgb(colour)
        for background in (white, shaded):
            for step in range(_BLENDS + 1):
                entries[_mix(rgb, background, step / _BLENDS)] = None
    # Pillow maps a pixel through a cache of 1/8-wide colour cells, to the entry nearest
    # the cell's middle: nothing but white may be in white's cell
    kept = [e for e in entries if e == white or min(e) < 248][:256]
    flat = [channel for entry in kept for channel in entry]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + [0] * (768 - len(flat)))
    return palette


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _mix(colour: tuple[int, int, int], background: tuple[int, int, int], amount: float):
    return tuple(round(b + (c - b) * amount) for c, b in zip(colour, background, strict=True))


def _png(image: PILImage.Image, palette: PILImage.Image) -> bytes:
    from PIL import Image

    paletted = image.quantize(palette=palette, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    paletted.save(buffer, format="PNG", compress_level=COMPRESS_LEVEL)
    return buffer.getvalue()
