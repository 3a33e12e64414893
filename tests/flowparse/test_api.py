"""parse() / load() / Parser and the backend registry, with a fake backend (no OpenCV needed)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from PIL import Image

import flowparse
from flowparse import backends
from flowparse.api import MODEL_ENV, Parser, load, parse, resolve_backend
from flowparse.backends import BackendError, available_backends, get_backend, register_backend
from flowparse.errors import FlowparseError, InputError
from flowparse.graph import add_shape, new_graph, validate_graph


class FakeBackend:
    """Records what it was built with and what it saw; one rectangle per image."""

    built: list[dict] = []

    def __init__(self, model=None, **options):
        self.model, self.options, self.calls = model, options, []
        FakeBackend.built.append({"model": model, **options})

    def parse(self, image, *, source=""):
        self.calls.append(("parse", source))
        return self._graph(image)

    def parse_many(self, images, *, batch_size, sources):
        self.calls.append(("parse_many", tuple(sources), batch_size))
        return [self._graph(im) for im in images]

    def _graph(self, image):
        assert isinstance(image, Image.Image) and image.mode == "RGB"
        G = new_graph()  # deliberately leaves size, source and backend for the Parser to fill in
        add_shape(G, "rectangle", (0, 0, image.width / 2, image.height / 2), "x")
        return G


@pytest.fixture
def fake(monkeypatch):
    """A registry with 'fake' added; the real registry is restored afterwards."""
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    FakeBackend.built = []
    register_backend("fake", FakeBackend)
    return FakeBackend


def _png(tmp_path: Path, name="a.png", size=(20, 10)) -> Path:
    path = tmp_path / name
    Image.new("RGB", size, "white").save(path)
    return path


@pytest.mark.parametrize(
    "backend, model, env, expected",
    [
        ("auto", None, None, ("classical", None)),  # nothing configured: the CPU detector
        ("auto", "ckpt/", None, ("internvl", "ckpt/")),  # a model given
        ("auto", None, "env-ckpt/", ("internvl", "env-ckpt/")),  # FLOWPARSE_MODEL set
        ("AUTO", "ckpt/", "env-ckpt/", ("internvl", "ckpt/")),  # the argument beats the variable
        ("classical", None, "env-ckpt/", ("classical", None)),  # an explicit name wins over the env
        ("internvl", None, "env-ckpt/", ("internvl", "env-ckpt/")),  # internvl falls back on the env
    ],
)
def test_auto_backend(monkeypatch, backend, model, env, expected):
    if env is None:
        monkeypatch.delenv(MODEL_ENV, raising=False)
    else:
        monkeypatch.setenv(MODEL_ENV, env)
    assert resolve_backend(backend, model) == expected


def test_parse_fills_in_size_source_and_backend(fake, tmp_path):
    path = _png(tmp_path)
    G = parse(path, backend="fake", colour="blue")
    assert G.graph == {"width": 20, "height": 10, "source": str(path), "backend": "fake"}
    assert fake.built == [{"model": None, "colour": "blue"}]
    validate_graph(G)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.read_bytes(),  # bytes
        lambda p: io.BytesIO(p.read_bytes()),  # a binary file object
        lambda p: Image.open(p).convert("L"),  # a PIL image in another mode
        lambda p: np.asarray(Image.open(p)),  # a numpy array
    ],
)
def test_parse_takes_every_input_kind(fake, tmp_path, make):
    G = parse(make(_png(tmp_path)), backend="fake")
    assert G.nodes["n0"]["bbox"] == (0.0, 0.0, 10.0, 5.0)


def test_load_builds_once_and_parses_many_in_batches(fake, tmp_path):
    paths = [_png(tmp_path, f"{k}.png", (10 + k, 10)) for k in range(5)]
    parser = load("fake", model="m")
    assert isinstance(parser, Parser) and parser.backend == "fake"
    graphs = parser.parse_many(paths, batch_size=2)
    assert [G.graph["width"] for G in graphs] == [10, 11, 12, 13, 14]
    assert [G.graph["source"] for G in graphs] == [str(p) for p in paths]
    assert [c[0] for c in parser.engine.calls] == ["parse_many"] * 3  # 2 + 2 + 1
    assert [c[2] for c in parser.engine.calls] == [2, 2, 2]
    assert len(fake.built) == 1 and fake.built[0]["model"] == "m"


def test_parse_many_names_and_errors(fake, tmp_path):
    parser = load("fake")
    graphs = parser.parse_many([Image.new("RGB", (4, 4))], sources=["page 3"])
    assert graphs[0].graph["source"] == "page 3"
    with pytest.raises(ValueError, match="batch_size"):
        parser.parse_many([], batch_size=0)
    with pytest.raises(ValueError, match="2 sources for 1 images"):
        parser.parse_many([Image.new("RGB", (4, 4))], sources=["a", "b"])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"bad\.png: not an image"):
        parser.parse(bad)


def test_max_pixels_goes_to_the_image_loader(fake, tmp_path):
    parser = load("fake", max_pixels=100)
    assert "max_pixels" not in fake.built[0]
    with pytest.raises(InputError, match="over the limit of 100"):
        parser.parse(_png(tmp_path, size=(20, 10)))


def test_backend_refusing_options_is_a_flowparse_error(monkeypatch):
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    register_backend("strict", lambda model=None: None)
    with pytest.raises(FlowparseError, match="does not take these options"):
        load("strict", colour="red")


def test_registry_names_and_lookups(monkeypatch):
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    assert {"classical", "internvl"} <= set(available_backends())
    with pytest.raises(BackendError, match="lowercase"):
        register_backend("Fancy", FakeBackend)
    with pytest.raises(BackendError, match="must be callable"):
        register_backend("nothing", 42)
    register_backend("mine", FakeBackend)
    register_backend("mine", FakeBackend)  # the same factory again is fine
    with pytest.raises(BackendError, match="already registered"):
        register_backend("mine", "flowparse.backends.classical:ClassicalBackend")
    register_backend("mine", "tests_missing_module:Factory", replace=True)
    with pytest.raises(BackendError, match="cannot be imported"):
        get_backend("mine")
    with pytest.raises(BackendError, match=r"unknown backend 'nope' \(available: .*classical"):
        get_backend("nope")


def test_string_factories_import_lazily(monkeypatch):
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    register_backend("dotted", "collections:OrderedDict")
    assert backends._REGISTRY["dotted"] == "collections:OrderedDict"  # nothing imported yet
    from collections import OrderedDict

    assert get_backend("DOTTED") is OrderedDict
    register_backend("noattr", "collections:NoSuchThing")
    with pytest.raises(BackendError, match="has no 'NoSuchThing'"):
        get_backend("noattr")


def test_entry_point_backends_are_found(monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    monkeypatch.setattr(backends, "_ENTRY_POINTS_LOADED", False)
    eps = [
        metadata.EntryPoint("thirdparty", "collections:Counter", backends.ENTRY_POINT_GROUP),
        metadata.EntryPoint("classical", "collections:Counter", backends.ENTRY_POINT_GROUP),  # cannot take over
    ]
    monkeypatch.setattr(metadata, "entry_points", lambda group: [e for e in eps if e.group == group])
    assert "thirdparty" in available_backends()
    from collections import Counter

    assert get_backend("thirdparty") is Counter
    assert backends._REGISTRY["classical"] != "collections:Counter"


def test_public_names():
    assert flowparse.parse is parse and flowparse.load is load and flowparse.Parser is Parser
    assert {"parse", "load", "Parser"} <= set(flowparse.__all__)


def test_importing_flowparse_stays_light():
    code = (
        "import sys, flowparse, flowparse.api, flowparse.images, flowparse.backends; "
        "heavy = [m for m in ('cv2', 'rapidocr', 'onnxruntime', 'torch', 'transformers') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_fake_graph_is_a_digraph(fake):
    assert isinstance(parse(Image.new("RGB", (8, 8)), backend="fake"), nx.DiGraph)
