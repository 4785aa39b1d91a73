"""The tracking snippet stays small and valid JavaScript once minified as served."""

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tracking.snippet import CONFIG_MARKER
from tracking.snippet import minify as minify_js

SNIPPET = Path(__file__).resolve().parent.parent / "static" / "humblytics.js"
PLACEHOLDER = CONFIG_MARKER
MAX_GZIP_BYTES = 2048


def _source() -> str:
    return SNIPPET.read_text(encoding="utf-8")


def _node_check(tmp_path: Path, code: str) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed")
    path = tmp_path / "snippet.js"
    path.write_text(code, encoding="utf-8")
    result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_minified_snippet_is_under_2_kib_gzipped():
    minified = minify_js(_source())
    size = len(gzip.compress(minified.encode("utf-8"), compresslevel=9))
    print(f"humblytics.js: {len(_source())} B source, {len(minified)} B minified, {size} B gzipped")
    assert size < MAX_GZIP_BYTES


def test_minified_snippet_keeps_exactly_one_config_placeholder():
    source, minified = _source(), minify_js(_source())
    assert source.count(PLACEHOLDER) == 1
    assert minified.count(PLACEHOLDER) == 1
    assert "var C=" + PLACEHOLDER + ";" in minified
    # Comments are gone, only the marker survives.
    assert minified.count("/*") == 1


def test_minified_snippet_parses(tmp_path):
    _node_check(tmp_path, minify_js(_source()))


def test_snippet_with_inlined_config_parses(tmp_path):
    config = json.dumps({"tests": [{"id": 1, "variants": [{"key": "b", "url": "/b?x=1&y=</script>"}]}]})
    _node_check(tmp_path, minify_js(_source()).replace(PLACEHOLDER, config))


def test_source_parses(tmp_path):
    _node_check(tmp_path, _source())


def test_snippet_sets_no_cookie_and_uses_no_identity_storage():
    code = minify_js(_source())
    assert "cookie" not in code
    assert "sessionStorage" not in code
    assert "indexedDB" not in code
    # localStorage is only read, for the owner's opt-out flag.
    assert code.count("localStorage") == code.count('localStorage.getItem("humblytics_ignore")') == 1
