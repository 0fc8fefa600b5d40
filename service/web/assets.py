"""Static files under fingerprinted names: the build step, its one manifest, and WhiteNoise serving what it made.

`python -m service.web.build_static` (run by `make run`, the Procfile's release and `.ci/run`; create_app runs it too
when the sources changed since) copies every file of service/web/static/ to static-build/files/ under a name
carrying its content's hash (`rider/main.js` -> `rider/main.3f2a9c1b7d4e.js`), with `.gz` and `.br` copies
beside it, and writes static-build/manifest.json. From that one manifest come the templates' URLs
(`static_url`), the import map of the page scripts, and the service worker's list of files to keep offline
(the files the rider's page names).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jinja2 import Environment, nodes
from markupsafe import Markup
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from service import states

SOURCE = Path(__file__).with_name("static")
BUILD = Path(__file__).with_name("static-build")  # git-ignored
URL_PREFIX = "/static/"
HASH_CHARS = 12
FINGERPRINTED = re.compile(rf"\.[0-9a-f]{{{HASH_CHARS}}}\.[A-Za-z0-9]+$")
# url(...) in style sheets: relative references to our own files are rewritten to their fingerprinted names
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
ONE_YEAR_S = 365 * 24 * 3600
# what pages load; anything else under static/ (vendor/leaflet/LICENSE) stays in the source tree, unserved
WEB_TYPES = (".js", ".css", ".png", ".svg", ".jpg", ".webp", ".ico", ".woff2")
# files made from the core rather than kept under static/: the state vocabulary for the scripts and the styles
GENERATED = {"js/states.js": states.script_module, "css/states.css": states.stylesheet}


@dataclass(frozen=True)
class Manifest:
    """What one build made: logical name (as under static/) -> fingerprinted name, and the sources' digest."""

    version: str
    files: dict[str, str]

    def url(self, name: str) -> str:
        """The URL of a static file by its logical name, e.g. static_url('rider/main.js')."""
        try:
            return URL_PREFIX + self.files[name]
        except KeyError:
            raise LookupError(f"no static file {name!r} in {SOURCE}") from None

    def import_map_json(self) -> str:
        """The import map: every page script's plain URL resolves to its fingerprinted file (for ES modules)."""
        imports = {URL_PREFIX + name: self.url(name) for name in sorted(self.files) if name.endswith(".js")}
        return json.dumps({"imports": imports}, separators=(",", ":"))

    def import_map_tag(self) -> Markup:
        """The inline <script type="importmap"> (import maps cannot be external); CSP allows it by its hash."""
        return Markup(f'<script type="importmap">{self.import_map_json()}</script>')

    def import_map_hash(self) -> str:
        """The CSP source allowing exactly this import map: 'sha256-<base64>'."""
        digest = hashlib.sha256(self.import_map_json().encode()).digest()
        return f"'sha256-{base64.b64encode(digest).decode()}'"


def names_in_template(env: Environment, template: str) -> list[str]:
    """The static files a template names, `static_url('...')` calls read from its source (the page is the list)."""
    source = env.loader.get_source(env, template)[0]
    return sorted({call.args[0].value for call in env.parse(source).find_all(nodes.Call)
                   if isinstance(call.node, nodes.Name) and call.node.name == "static_url"
                   and call.args and isinstance(call.args[0], nodes.Const)})


def _sources(source: Path) -> list[str]:
    return sorted({p.relative_to(source).as_posix() for p in source.rglob("*")
                   if p.is_file() and p.suffix in WEB_TYPES
                   and not any(part.startswith(".") for part in p.relative_to(source).parts)} | set(GENERATED))


def source_content(name: str, source: Path = SOURCE) -> bytes:
    """A source file's bytes, or what the core generates under that name."""
    return GENERATED[name]().encode("utf-8") if name in GENERATED else (source / name).read_bytes()


def sources_digest(source: Path = SOURCE) -> str:
    """A digest of every source file (generated ones too) and of this build code: a change calls for a new build."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for name in _sources(source):
        h.update(name.encode() + b"\0" + source_content(name, source) + b"\0")
    return h.hexdigest()[:HASH_CHARS]


def fingerprinted(name: str, data: bytes) -> str:
    """`dir/name.ext` -> `dir/name.<hash>.ext`."""
    path = PurePosixPath(name)
    digest = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def _rewrite_css(name: str, text: str, files: dict[str, str]) -> str:
    """Point a style sheet's relative url(...) references at the fingerprinted files (as Django's storage does)."""
    here = PurePosixPath(name).parent

    def swap(match: re.Match) -> str:
        quote, ref = match.group(1), match.group(2).strip()
        if ref.startswith(("#", "data:", "/", "http:", "https:")):
            return match.group(0)
        target = os.path.normpath(str(here / ref.split("?")[0].split("#")[0])).replace(os.sep, "/")
        if target not in files:
            raise LookupError(f"{name} refers to {ref!r}, which is not in {SOURCE}")
        return f"url({quote}{os.path.relpath(files[target], here).replace(os.sep, '/')}{quote})"

    return CSS_URL.sub(swap, text)


def read_manifest(build: Path = BUILD) -> Manifest | None:
    """The manifest of the last build, or None when there is none."""
    try:
        raw = json.loads((build / "manifest.json").read_text())
        return Manifest(version=raw["version"], files=raw["files"])
    except (OSError, ValueError, KeyError):
        return None


def build(source: Path = SOURCE, target: Path = BUILD, quiet: bool = True) -> Manifest:
    """Write the fingerprinted, precompressed copies and the manifest (nothing to do when they are current)."""
    version = sources_digest(source)
    current = read_manifest(target)
    if current is not None and current.version == version:
        return current
    names = _sources(source)
    files: dict[str, str] = {}
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as tmp:
        staged = Path(tmp)
        # style sheets last: they name the images and fonts they use by their fingerprinted names
        for name in sorted(names, key=lambda n: n.endswith(".css")):
            data = source_content(name, source)
            if name.endswith(".css"):
                data = _rewrite_css(name, data.decode("utf-8"), files).encode("utf-8")
            files[name] = fingerprinted(name, data)
            out = staged / files[name]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        compressor = Compressor(quiet=quiet)
        for path in [p for p in staged.rglob("*") if p.is_file()]:
            if compressor.should_compress(path.name):
                compressor.compress(str(path))
        # each file lands whole (os.replace), the manifest last: a process reading meanwhile sees the old build
        for path in sorted(p for p in staged.rglob("*") if p.is_file()):
            final = target / "files" / path.relative_to(staged)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
        manifest = Manifest(version=version, files=files)
        listing = json.dumps({"version": version, "files": files}, indent=1, sort_keys=True)
        (staged / "manifest.json").write_text(listing)
        os.replace(staged / "manifest.json", target / "manifest.json")
    return manifest


def clean(target: Path = BUILD) -> None:
    """Remove every build (they accumulate: a fingerprinted name is never reused for other content)."""
    shutil.rmtree(target, ignore_errors=True)


class StaticFiles(WhiteNoise):
    """WhiteNoise over the build: .br or .gz as the client accepts, cached for a year and never revalidated."""

    FOREVER = ONE_YEAR_S

    def __init__(self, application, build_dir: Path = BUILD):
        super().__init__(application, root=build_dir / "files", prefix=URL_PREFIX, allow_all_origins=False,
                         immutable_file_test=lambda path, url: bool(FINGERPRINTED.search(url)),
                         add_headers_function=self._security_headers)

    @staticmethod
    def _security_headers(headers, path: str, url: str) -> None:
        """The headers of our pages that matter for a file too (the page's CSP governs what a script may do)."""
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
