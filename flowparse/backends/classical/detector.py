"""The classical detector: shapes, text and arrows of a flowchart image, on one CPU core.

Steps: page analysis (:mod:`.page`) -> shapes (:mod:`.shapes`) -> text lines inside shapes and
free text beside lines (:mod:`.text`) -> one batch through the recogniser (:mod:`.ocr`) ->
connectors traced between shapes (:mod:`.arrows`) -> labels attached to the nearest arrow.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Container, Sequence

import cv2
import networkx as nx
import numpy as np

from flowparse.backends.classical.arrows import Connector, shape_zones, trace_connectors
from flowparse.backends.classical.frames import (
    Frame,
    find_frames,
    frame_fill,
    frame_holds,
    frame_ink,
    in_band,
    title_bands,
)
from flowparse.backends.classical.ocr import TextReader, get_reader
from flowparse.backends.classical.page import (
    INK_CONTRAST,
    LINE_CONTRAST,
    TINT_CONTRAST,
    Page,
    analyse_page,
    colour_gap,
    even_lighting,
    off_shades,
)
from flowparse.backends.classical.shapes import Region, find_shapes, is_label_plate, sides_run_on, template_mask
from flowparse.backends.classical.text import (
    TextBlock,
    band_text_lines,
    free_text_blocks,
    label_reach,
    node_text_lines,
    text_height,
)
from flowparse.geometry import box_iou, clip_box, point_box_distance, polyline_distances, segment_meets_box
from flowparse.graph import add_arrow, add_shape, new_graph

__all__ = ["detect", "attach_arrows", "MAX_SIDE", "MIN_SCORE"]

#: Longer sides are scaled down to this before analysis (speed; charts stay legible at it).
MAX_SIDE = 2000
#: Shapes scoring below this are left out (photo texture, smudges); 0 keeps every candidate.
MIN_SCORE = 0.15
#: Text height assumed when no shape holds any text, for ~1000 px charts.
DEFAULT_TEXT_HEIGHT = 14.0


def detect(
    rgb: np.ndarray,
    *,
    source: str = "",
    reader: TextReader | None = None,
    labels: bool = True,
    min_score: float = MIN_SCORE,
) -> nx.DiGraph:
    """The flowchart graph of an RGB uint8 image (boxes in the image's own pixels).

    >>> G = detect(np.full((100, 100, 3), 255, np.uint8))   # doctest: +SKIP
    >>> G.number_of_nodes()                                 # doctest: +SKIP
    0
    """
    height, width = rgb.shape[:2]
    page, scale = _page_at_working_size(rgb)
    reader = reader or get_reader()
    # label plates are left to the connector pass, which reads their text as the arrow's label
    shapes, plates = [], []
    for region in find_shapes(page):
        (plates if is_label_plate(page, region) else shapes).append(region)
    regions, filled = _shapes_in_filled_frames(page, shapes)
    texts, line_boxes = _read_node_texts(page, regions, reader)
    text_h = text_height(line_boxes, DEFAULT_TEXT_HEIGHT * max(page.width, page.height) / 1000)
    G = new_graph(width, height, source=source, backend="classical")
    chartness = _page_chartness(page)
    kept = []
    for region, text in zip(regions, texts):
        # a round shape's box has no sides to run on: only a box, a polygon, is checked with a label in it
        boxed = not any(ch.isalnum() for ch in text) or (len(text.strip()) <= 3 and region.shape not in _ROUND)
        if boxed and region.hollow and sides_run_on(page, region):
            continue  # page boxed in by connectors that cross (a mark or a short label in it at most): no shape
        score = _node_score(region) * _flatness(page, region) * chartness
        if score < min_score:
            continue
        box = clip_box([v / scale for v in region.bbox], width, height)
        add_shape(G, region.shape, box, text, score=score)
        kept.append(region)
    bodies = [_zone_body(r, page) for r in kept]
    _add_connectors(G, page, bodies, text_h, reader if labels else None, scale, filled, plates)
    return G


def attach_arrows(image, G: nx.DiGraph, *, reader: TextReader | None = None, labels: bool = True) -> nx.DiGraph:
    """Trace the connectors between the nodes already in ``G`` (boxes and shapes) and add them,
    and the frames round groups of them as ``subgraphs`` when ``G`` has none.

    For detectors that find shapes but not arrows (a grounding model asked for shapes only).
    ``image`` is anything :func:`flowparse.images.load_image` takes; ``G`` is changed and returned.

    >>> G = attach_arrows("chart.png", shapes_only_graph)   # doctest: +SKIP
    >>> G.number_of_edges()                                 # doctest: +SKIP
    5
    """
    from flowparse.images import load_image

    pil, _ = load_image(image)
    rgb = np.asarray(pil)
    page, scale = _page_at_working_size(rgb)
    nodes = [n for n, d in G.nodes(data=True) if d.get("bbox")]
    bodies = []
    for n in nodes:
        x1, y1, x2, y2 = (v * scale for v in G.nodes[n]["bbox"])
        x, y = int(math.floor(x1)), int(math.floor(y1))
        w, h = max(2, int(math.ceil(x2)) - x), max(2, int(math.ceil(y2)) - y)
        bodies.append((x, y, template_mask(G.nodes[n].get("shape", "rectangle"), w, h)))
    text_h = _text_height_in(page, bodies)
    sub = new_graph(G.graph.get("width"), G.graph.get("height"))
    for k, n in enumerate(nodes):
        add_shape(sub, "rectangle", G.nodes[n]["bbox"], node_id=f"k{k}")
    _add_connectors(sub, page, bodies, text_h, (reader or get_reader()) if labels else None, scale)
    for u, v, data in sub.edges(data=True):
        add_arrow(G, nodes[int(u[1:])], nodes[int(v[1:])], **data)
    if sub.graph.get("subgraphs") and not G.graph.get("subgraphs"):  # the frames round the nodes
        G.graph["subgraphs"] = [
            {**group, "nodes": [nodes[int(k[1:])] for k in group["nodes"]]} for group in sub.graph["subgraphs"]
        ]
    return G


def _text_height_in(page: Page, bodies: list) -> float:
    """Text height inside given boxes (no OCR): it sets the scale for arrowheads and labels."""
    boxes = []
    for x, y, mask in bodies:
        x0, y0 = max(0, x), max(0, y)
        mask = mask[y0 - y : page.height - y, x0 - x : page.width - x]
        inside = page.rgb[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]][mask > 0]
        fill = tuple(int(v) for v in np.median(inside, axis=0)) if inside.size else (255, 255, 255)
        region = Region(x=x0, y=y0, mask=mask, hollow=True, fill=fill)
        boxes += [box for _, box in node_text_lines(page, region)]
    return text_height(boxes, DEFAULT_TEXT_HEIGHT * max(page.width, page.height) / 1000)


def _page_at_working_size(rgb: np.ndarray) -> tuple[Page, float]:
    scale = min(1.0, MAX_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return analyse_page(even_lighting(np.ascontiguousarray(rgb))), scale


def _shapes_in_filled_frames(page: Page, regions: list[Region]) -> tuple[list[Region], list[Frame]]:
    """``regions`` with the shapes inside filled frames found again on the frame's fill, and
    those frames.

    A frame filled darker than ink contrast (Mermaid's subgraphs) is ink all over on the page,
    so the shapes on it are not found there; inside the frame, its fill is the page. A frame
    that is a shape already found, or that is not mostly one flat fill, is left alone.
    """
    frames = []
    for frame in find_frames(page, [r.bbox for r in regions], filled=True):
        x1, y1, x2, y2 = frame.inner
        if x2 - x1 < 8 or y2 - y1 < 8 or any(box_iou(r.bbox, frame.box) > 0.7 for r in regions):
            continue
        sub = analyse_page(np.ascontiguousarray(page.rgb[y1:y2, x1:x2]))
        if colour_gap(sub.background, page.background) <= TINT_CONTRAST:
            continue  # not filled: its shapes were found on the page
        if np.count_nonzero(sub.tint == 0) < 0.5 * sub.tint.size:
            continue  # not one flat fill: a patch of photo, a hatched area
        inner = [r for r in find_shapes(sub) if not is_label_plate(sub, r)]
        if not inner:
            continue  # a filled box with text in it: a shape, left as found
        for r in inner:
            r.shift(x1, y1)
        fx1, fy1, fx2, fy2 = frame.box
        regions = [
            r for r in regions if not (fx1 <= r.x and fy1 <= r.y and r.bbox[2] <= fx2 and r.bbox[3] <= fy2)
        ] + inner
        frames.append(frame)
    return sorted(regions, key=lambda r: (r.y, r.x)), frames


def _read_node_texts(page: Page, regions: list[Region], reader: TextReader) -> tuple[list[str], list]:
    found = [node_text_lines(page, region) for region in regions]
    # Lines set tight in a small box (a descender over the next line's ascender) make one run
    # of rows: read whole, two lines are garbage ("Dslgy y to"). The page's usual line cuts them.
    usual = text_height([box for lines in found for _, box in lines], 0.0)
    if usual:
        found = [
            node_text_lines(page, region, line_height=usual) if any(b[3] - b[1] >= 1.7 * usual for _, b in lines)
            else lines
            for region, lines in zip(regions, found)
        ]
    crops, owners, boxes = [], [], []
    for k, lines in enumerate(found):
        for crop, box in lines:
            crops.append(crop)
            owners.append(k)
            boxes.append(box)
    read = reader.read(crops)
    lines: list[list[str]] = [[] for _ in regions]
    kept_boxes = []
    for k, (text, conf), box in zip(owners, read, boxes):
        if text and conf >= 0.3:
            lines[k].append(text)
            kept_boxes.append(box)
    return ["\n".join(parts) for parts in lines], kept_boxes


#: Shapes whose corners are sharp points: their outline's tips reach well past the interior's box.
_POINTY = ("diamond",)


def _zone_body(region: Region, page: Page) -> tuple[int, int, np.ndarray]:
    """(x, y, mask) of the body, plus what of its outline the body misses: for pointy shapes their
    template grown to where a mitred outline's tips reach, for a cylinder found without its lid the
    lid; so that neither is taken for the start of a connector or a head.

    The body covers the interior grown by one pen, which at a tip falls short: a mitre juts
    out ``thick / sin(half the tip's angle)``, nearly 4 times the outline's width at a flat
    diamond's sharp side tips but hardly more than 1 at its blunt top and bottom. Growing the
    template by as much on every side (as it once did) buried the heads that arrive there."""
    if region.shape == "cylinder" and not region.parts:
        return _with_lid(region, page.ink)
    if region.shape not in _POINTY:
        return region.x, region.y, region.mask
    pen = page.pen
    w, h = region.w - 2 * region.bold, region.h - 2 * region.bold
    thick = pen + region.bold
    side = math.atan2(max(h, 1), max(w, 1))  # half a side tip's angle; the top tip's is its complement
    # past the body's own pen, at the side tips (x) and at the top and bottom ones (y)
    gx, gy = (max(math.ceil(thick / f - pen), region.bold) for f in (math.sin(side), math.cos(side)))
    template = template_mask(region.shape, w + 2 * gx, h + 2 * gy)
    px, py = gx - region.bold, gy - region.bold
    body = cv2.copyMakeBorder(region.mask, py, py, px, px, cv2.BORDER_CONSTANT, value=0)
    return region.x - px, region.y - py, cv2.bitwise_or(body, template)


def _with_lid(region: Region, ink: np.ndarray) -> tuple[int, int, np.ndarray]:
    """(x, y, mask) of a cylinder found by its body alone, with its lid. A lid too flat to be a
    region of its own (Graphviz's, on a short cylinder) is a stroke a few pixels over the body:
    up to the highest row within 0.4 body heights above it that is inked across half its width
    (an arrow that meets the lid inks a small part of a row)."""
    x, y, mask = region.x, region.y, region.mask
    above = ink[y - min(y, int(0.4 * region.h)) : y, x : x + region.w]
    inked = np.flatnonzero(np.count_nonzero(above, axis=1) >= 0.5 * region.w)
    if not inked.size:
        return x, y, mask
    lid = np.zeros((above.shape[0] - inked[0], region.w), np.uint8)  # from the highest such row
    lid[:, mask.any(axis=0)] = 255
    return x, y - lid.shape[0], np.vstack([lid, mask])


#: Shapes whose bounding box's sides are no strokes of their outline.
_ROUND = frozenset({"circle", "double_circle", "ellipse", "cylinder", "stadium"})


def _page_chartness(page: Page) -> float:
    """How much of the image is plain page: charts are mostly page, photos hardly any."""
    plain = float(np.count_nonzero(page.diff <= 20)) / page.diff.size
    return float(min(1.0, max(0.1, plain / 0.4)))


def _flatness(page: Page, region: Region) -> float:
    """Drawn shapes are filled with one flat colour (text aside); a patch of photo is not."""
    inner = cv2.erode(region.text_mask, np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    pixels = page.rgb[region.y : region.y + region.h, region.x : region.x + region.w][inner]
    if pixels.shape[0] < 20:
        return 0.5
    off = np.abs(pixels.astype(np.int16) - np.array(region.text_fill, np.int16)).max(axis=1)
    flat = float(np.count_nonzero(off <= 20)) / pixels.shape[0]
    return float(min(1.0, max(0.05, (flat - 0.3) / 0.45)))


def _node_score(region: Region) -> float:
    """Template fit mapped to [0, 1]: 0.6 IoU (a blob) is 0, a perfect fit 0.98."""
    return float(min(0.98, max(0.01, (region.fit - 0.6) / 0.4 * 0.98)))


def _add_connectors(
    G: nx.DiGraph, page: Page, bodies: list, text_h: float, reader: TextReader | None, scale: float,
    filled: Sequence[Frame] = (), plates: Sequence[Region] = (),
) -> None:
    nodes = list(G.nodes)
    zone = shape_zones(page, bodies)
    boxes = [(b[0], b[1], b[0] + b[2].shape[1], b[1] + b[2].shape[0]) for b in bodies]
    frames = find_frames(page, boxes)
    for frame in filled:  # found on their strokes, before the shapes on their fill were known
        members = [k for k, b in enumerate(boxes) if frame_holds(frame, b)]
        if members and not any(box_iou(frame.box, f.box) > 0.8 for f in frames):
            frames.append(dataclasses.replace(frame, members=members))
    frames.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))  # outermost first
    free = np.where((page.diff > LINE_CONTRAST) & (zone == 0), 255, 0).astype(np.uint8)
    solid = np.where((page.ink > 0) & (zone == 0), 255, 0).astype(np.uint8)
    for plate in [*plates, *_small_plates(page, zone, text_h)]:
        _clear_plate(page, plate, free, solid)
    for frame in frames:  # a frame's sides and fill are no connector: arrows crossing them keep their pixels
        free[frame_ink(frame, free, page.pen) > 0] = 0
        solid[frame_ink(frame, solid, page.pen) > 0] = 0
        fill = frame_fill(page, frame, zone)
        if fill is not None:
            free[fill], solid[fill] = 0, 0
    bands, titles = [], []
    for frame in frames:
        top, bottom = title_bands(frame, boxes, text_h, page.pen)
        crops, ink = band_text_lines(page, free, top)
        if not crops:
            top = bottom
            crops, ink = band_text_lines(page, free, bottom, shapes_below=False)
        bands.append(top)
        titles.append(crops)
        free[ink > 0] = 0
    touching = _touching_labels(free, zone)
    blocks = free_text_blocks(page, free, touching, text_h) if reader is not None else []
    blocks = [b for b in blocks if not any(in_band(b.box, band) for band in bands)]
    lines = free.copy()
    for block in blocks:  # text is no line, and letters by a line's end are no barbs of its head
        lines[block.pixels[:, 1], block.pixels[:, 0]] = 0
        solid[block.pixels[:, 1], block.pixels[:, 0]] = 0
    connectors = trace_connectors(page, zone, lines, text_h, boxes, solid, [b.box for b in blocks])
    if reader is not None:
        found = _letters_on_connectors(page, free, blocks, connectors, text_h)
        blocks += [b for b in found if not any(in_band(b.box, band) for band in bands)]
    if blocks:
        asks = {k for k, n in enumerate(nodes) if G.nodes[n]["shape"] == "diamond"}
        _attach_labels(connectors, blocks, reader, text_h, asks)
    for c in sorted(connectors, key=lambda c: -c.score):
        u, v = nodes[c.source], nodes[c.target]
        if u == v or G.has_edge(u, v) or (c.arrow != "normal" and G.has_edge(v, u)):
            continue
        points = [(x / scale, y / scale) for x, y in c.points]
        add_arrow(G, u, v, label=c.label, arrow=c.arrow, score=c.score, points=points)
    _add_subgraphs(G, frames, titles, reader)


def _small_plates(page: Page, zone: np.ndarray, text_h: float) -> list[Region]:
    """Label plates too small for the shape finder: a pale, flat box about a text line high,
    outside every shape, with text on it (a one- or two-letter label on Mermaid's plate)."""
    tint = (page.diff > TINT_CONTRAST) & (page.diff <= LINE_CONTRAST) & (zone == 0)
    k = 2 * int(round(page.pen)) + 1  # across the line that shows through the plate
    # ... and down across the text on it, which can split a plate no wider than its one letter
    tall = max(k, int(round(1.5 * text_h)))
    pale = cv2.morphologyEx(np.where(tint, 255, 0).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((tall, k), np.uint8))
    pale = cv2.morphologyEx(pale, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # off the pale edges of lines
    n, labels, stats, _ = cv2.connectedComponentsWithStats(pale, connectivity=4)
    found = []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        if h < 0.9 * text_h or w < 0.9 * text_h:
            continue
        own = labels[y : y + h, x : x + w] == i
        # the box: from the first to the last row and column mostly plate (a line's stub is not)
        rows, cols = np.nonzero(own.mean(axis=1) >= 0.6)[0], np.nonzero(own.mean(axis=0) >= 0.6)[0]
        if rows.size == 0 or cols.size == 0:
            continue
        own = own[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        x, y, h, w = x + cols[0], y + rows[0], own.shape[0], own.shape[1]
        if not 0.9 * text_h <= h <= 2.6 * text_h or w < 0.9 * text_h or own.mean() < 0.5:
            continue  # not a box a line of text high
        if min(own[:, 0].mean(), own[:, -1].mean()) < 0.6:
            continue  # its sides are not plate
        if np.count_nonzero(page.ink[y : y + h, x : x + w]) < 8:
            continue  # nothing written on it
        plate = own & tint[y : y + h, x : x + w]  # not the text the closing took in
        fill = tuple(int(v) for v in np.median(page.rgb[y : y + h, x : x + w][plate if plate.any() else own], axis=0))
        found.append(Region(x=int(x), y=int(y), mask=np.full((h, w), 255, np.uint8), hollow=False, fill=fill))
    return found


def _clear_plate(page: Page, plate: Region, *masks: np.ndarray) -> None:
    """Leave only the text on a label's plate in ``masks``: a see-through plate lets the line
    under it show, faint against the plate, and the text would join that line."""
    view = (slice(plate.y, plate.y + plate.h), slice(plate.x, plate.x + plate.w))
    off_fill = np.abs(page.rgb[view].astype(np.int16) - np.array(plate.fill, np.int16)).max(axis=2)
    faint = (off_fill <= INK_CONTRAST) & (plate.mask > 0)
    for mask in masks:
        mask[view][faint] = 0


def _add_subgraphs(G: nx.DiGraph, frames: list, titles: list[list[np.ndarray]], reader: TextReader | None) -> None:
    """Each frame becomes a subgraph (id, title, every node inside it). A frame around the whole
    chart with no title is a border, not a group."""
    nodes = list(G.nodes)
    crops = [crop for lines in titles for crop in lines]
    read = iter(reader.read(crops) if reader is not None and crops else [])  # one batch for all frames
    subgraphs = []
    for frame, lines in zip(frames, titles):
        parts = [next(read) for _ in lines] if reader is not None else []
        title = " ".join(_strip_line_marks(text) for text, conf in parts if conf >= 0.5 and text.strip())
        if len(frame.members) == len(nodes) and not title:
            continue
        members = [nodes[k] for k in frame.members]
        subgraphs.append({"id": f"cluster_{len(subgraphs)}", "title": title, "nodes": members})
    if subgraphs:
        G.graph["subgraphs"] = subgraphs


def _letters_on_connectors(
    page: Page, free: np.ndarray, blocks: list[TextBlock], connectors, text_h: float
) -> list[TextBlock]:
    """Text set so close to a connector that all of it joined the line's ink ("Y" against its line).

    With the traced lines painted out (a stroke of their width along each polyline, and the ends,
    where the heads are) and the text already found, what ink is left beside a line is letters.
    Only ink within about a letter of a line is looked at: other text was found before.
    """
    if not connectors:
        return []
    mask, band, heads = np.zeros_like(free), np.zeros_like(free), np.zeros_like(free)
    width = int(round(2 * page.pen + 3))
    for c in connectors:
        points = [np.array(c.points, np.int32)]
        cv2.polylines(mask, points, False, 255, thickness=width)
        cv2.polylines(band, points, False, 255, thickness=width + int(2.4 * text_h))
        for x, y in [c.points[-1]] if c.arrow == "normal" else [c.points[0], c.points[-1]]:
            cv2.circle(heads, (int(x), int(y)), int(1.5 * text_h), 255, -1)
    # A letter of another colour than its line keeps its pixels under the line's paint; a head,
    # its colour shifted by a scan, stays painted.
    mask[_off_the_lines_colour(page, free, mask, connectors)] = 0
    mask |= heads
    reach = label_reach(text_h) + 2  # as far as a found block's crop may reach, and its border
    read = np.zeros_like(free)
    for block in blocks:
        x0, y0, x1, y1 = block.box
        cv2.rectangle(read, (x0 - reach, y0 - 2), (x1 + reach, y1 + 2), 255, -1)
    around = cv2.bitwise_and(free, cv2.bitwise_not(read))
    rest = cv2.bitwise_and(cv2.bitwise_and(around, band), cv2.bitwise_not(mask))
    # Dashes went with the painted lines; what is left may be a letter cut narrow by the paint,
    # and a crop reaching over the line, never over text read already, paints out the stroke only
    # ("no" lost half its "o"; "True" read "Truue"). With the lines painted out, what touches a
    # shape is no connector: Graphviz sets a tail's label where its line leaves the shape, and
    # the letters touch both.
    found = free_text_blocks(page, rest, None, text_h, dash_width=page.pen + 1, around=around)
    return [dataclasses.replace(block, beside_line=True) for block in found]


#: How far (RGB) from every shade of a line's colour (:func:`off_shades`) a pixel under its paint
#: must be to be something else: a grey or black letter against a green or blue line.
OFF_LINE_COLOUR = 35.0


def _off_the_lines_colour(page: Page, free: np.ndarray, paint: np.ndarray, connectors) -> np.ndarray:
    """Where the ink under the lines' paint is a shade of none of the lines it lies by (a letter
    of another colour touching its line), as a page-sized bool mask. A line's colour is the median
    of the ink on its traced course; its anti-aliased edge and its deeper head are shades of it."""
    checked, lines_colour = np.zeros(free.shape, bool), np.zeros(free.shape, bool)
    for c in connectors:
        points = np.array(c.points, np.int32)
        (x0, y0), (x1, y1) = np.maximum(points.min(axis=0) - 6, 0), points.max(axis=0) + 7
        window = (slice(y0, y1), slice(x0, x1))  # the line's box, with room for the 9 x 9 below
        core = np.zeros_like(free[window])
        cv2.polylines(core, [points - (x0, y0)], False, 255, thickness=max(1, int(page.pen)))
        ink = free[window] > 0
        near = (cv2.dilate(core, np.ones((9, 9), np.uint8)) > 0) & (paint[window] > 0) & ink
        on_line = (core > 0) & ink
        rgb = page.rgb[window]
        colour = np.median(rgb[on_line], axis=0) if on_line.any() else page.background
        if float(np.linalg.norm(colour - page.background)) < 3 * OFF_LINE_COLOUR:
            lines_colour[window] |= near  # a pale line, or none seen: its shades reach anything
            continue
        checked[window] |= near
        shade = np.zeros_like(near)
        shade[near] = off_shades(rgb[near], page.background, colour) <= OFF_LINE_COLOUR
        lines_colour[window] |= shade
    return checked & ~lines_colour


def _touching_labels(free: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """Per component of ``free``, whether it touches a shape (used to tell letters from lines)."""
    n, labels = cv2.connectedComponents(free, connectivity=8)
    near = cv2.dilate(np.where(zone > 0, 255, 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    flags = np.zeros(n, bool)
    flags[np.unique(labels[near & (labels > 0)])] = True
    return flags


def _attach_labels(
    connectors: Sequence[Connector],
    blocks: list[TextBlock],
    reader: TextReader,
    text_h: float,
    asks: Container[int] = (),
) -> None:
    """Each text block goes to the nearest arrow within reach (about two text heights); of two
    as near (a -> b and b -> a drawn over each other), to the one that leaves a decision (one of
    ``asks``): its answers are what labels say.

    An arrow's blocks make its label in reading order. Blocks side by side on one line less than
    a text height apart are one word the line cut (words of one label are already one block).
    """
    owners = [(block, _nearest_arrow(block, connectors, text_h, asks)) for block in blocks]
    owners = [(block, k) for block, k in owners if k is not None]  # only what an arrow takes is read
    read = iter(reader.read([line for block, _ in owners for line in block.lines]))
    found: dict[int, list[tuple[tuple[int, int, int, int], str]]] = {}
    for block, k in owners:
        parts = [_strip_line_marks(t) for t, conf in (next(read) for _ in block.lines) if conf >= 0.5]
        # What is left of a rough, hand-drawn line once the traced one is painted out reads as a stroke.
        parts = [t for t in parts if t and not (block.beside_line and t in _STROKE_LIKE)]
        if parts:
            found.setdefault(k, []).append((block.box, " ".join(parts)))
    for k, pieces in found.items():
        pieces.sort(key=lambda p: (round((p[0][1] + p[0][3]) / 2 / text_h), p[0][0]))
        label = pieces[0][1]
        for (prev, _), (box, text) in zip(pieces, pieces[1:]):
            same_line = abs((prev[1] + prev[3]) - (box[1] + box[3])) / 2 < 0.5 * text_h
            label += ("" if same_line and box[0] - prev[2] < text_h else " ") + text
        c = connectors[k]
        c.label = " ".join(filter(None, [c.label, label]))


def _nearest_arrow(
    block: TextBlock, connectors: Sequence[Connector], text_h: float, asks: Container[int] = ()
) -> int | None:
    """The index of the arrow nearest the block's middle, if within reach (about two text
    heights past the block's half size) and the block's ink within two text heights of it."""
    if not connectors:
        return None
    cx, cy = (block.box[0] + block.box[2]) / 2, (block.box[1] + block.box[3]) / 2
    reach = 2.0 * text_h + max(block.box[2] - block.box[0], block.box[3] - block.box[1]) / 2
    middle = np.array([(cx, cy)])
    dist, _, best = min(
        (float(polyline_distances(middle, c.points)[0]), c.source not in asks, k) for k, c in enumerate(connectors)
    )
    # ... the ink too: a chart's title, wide and above the first shape, has its middle within
    # reach of the first arrow but not its ink.
    if dist <= reach and _polyline_box_distance(connectors[best].points, block.box) <= 2.0 * text_h:
        return best
    return None


_STROKE_LIKE = frozenset("1lIi|!/\\一")  # and CJK "one": a slanted sliver reads so


def _strip_line_marks(text: str) -> str:
    """A label's crop can take in a piece of the connector beside it, read as ``|``, ``/`` or
    ``-``, or the stub of a line, cut short by the crop, read as ``.``, ``，`` or ``「``."""
    return text.strip(" |/\\-_\u2014\u2013'`.,\u00b7\uff0c\u3002\u300c\u300d")


def _polyline_box_distance(points: Sequence[tuple[float, float]], box: tuple[int, int, int, int]) -> float:
    """Distance from a polyline to a box: 0 where it runs through the box.

    >>> beside, across = [(20, -5), (20, 30)], [(-5, 5), (30, 5)]
    >>> _polyline_box_distance(beside, (0, 0, 10, 10)), _polyline_box_distance(across, (0, 0, 10, 10))
    (10.0, 0.0)
    """
    x0, y0, x1, y1 = box
    corners = ((x0, y0), (x1, y0), (x0, y1), (x1, y1))
    best = math.inf
    for a, b in zip(points, points[1:]):
        if segment_meets_box(a, b, box):
            return 0.0
        ends = min(point_box_distance(a, box), point_box_distance(b, box))
        best = min(best, ends, float(polyline_distances(np.array(corners, np.float64), (a, b)).min()))
    return best
