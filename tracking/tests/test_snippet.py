"""tracking/snippet.py: which code each served variant of the tracker carries, and the automatic-events
script it names."""

import json

import pytest

from tracking import snippet

ONE_TEST = {
    "t": [{"p": "/p", "c": "control", "a": "b", "u": "/p-b", "v": ["/p-b"], "n": 0}],
    "d": "a.example",
}


@pytest.fixture
def fresh_caches():
    """Templates are cached per process: a test that swaps the sources starts and ends clean."""
    caches = (snippet.template, snippet.auto_script, snippet.auto_version)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.fixture
def sources(settings, tmp_path, fresh_caches):
    """Point the snippet at sources in ``tmp_path/static``; returns a writer for them."""
    (tmp_path / "static").mkdir()
    settings.BASE_DIR = tmp_path

    def write(core: str, auto: str = "(function(){ /* auto */ })();") -> None:
        (tmp_path / "static" / "humblytics.js").write_text(core, encoding="utf-8")
        (tmp_path / "static" / "humblytics-auto.js").write_text(auto, encoding="utf-8")

    return write


@pytest.mark.parametrize("with_split_tests", [False, True])
@pytest.mark.parametrize("with_payment_links", [False, True])
def test_every_variant_sends_custom_events_and_names_the_current_automatic_events_script(
    with_split_tests, with_payment_links
):
    script = snippet.template(with_split_tests, with_payment_links)
    assert 'type:"event"' in script
    assert script.count(f'"/hmbl.auto.js?v={snippet.auto_version()}"') == 1
    assert '"/hmbl.auto.js"' not in script
    assert ("hmbl_v" in script and "T.length" in script) is with_split_tests
    assert ("client_reference_id" in script) is with_payment_links
    # Automatic events are never inlined: only the tag knows whether a page wants them.
    assert "Outbound Link" not in script


def test_a_split_test_config_keeps_the_automatic_events_script_name():
    script = snippet.with_config(ONE_TEST)
    assert json.dumps(ONE_TEST, separators=(",", ":")) in script
    assert f"/hmbl.auto.js?v={snippet.auto_version()}" in script


def test_the_automatic_events_script_is_minified_and_carries_every_feature():
    auto = snippet.auto_script()
    assert "/*" not in auto
    assert "\n  " not in auto
    for name in ("Outbound Link: Click", "File Download", "Form: Submission", "humblytics-event-"):
        assert name in auto
    for attribute in ("outbound", "downloads", "forms", "tagged"):
        assert f'on("{attribute}")' in auto


def test_the_version_follows_the_automatic_events_script(sources):
    core = 'var C=/*!HMBL_CONFIG*/null;load("/hmbl.auto.js");'
    sources(core, auto="one();")
    first = snippet.auto_version()
    assert f'load("/hmbl.auto.js?v={first}")' in snippet.template(False)

    for cached in (snippet.template, snippet.auto_script, snippet.auto_version):
        cached.cache_clear()
    sources(core, auto="two();")
    assert snippet.auto_version() != first
    assert f'load("/hmbl.auto.js?v={snippet.auto_version()}")' in snippet.template(False)
    assert len(first) == 8


@pytest.mark.parametrize(
    "core",
    ["var C=/*!HMBL_CONFIG*/null;", 'var C=/*!HMBL_CONFIG*/null;a("/hmbl.auto.js");b("/hmbl.auto.js");'],
)
def test_a_source_that_does_not_name_the_automatic_events_script_once_is_refused(sources, core):
    sources(core)
    with pytest.raises(RuntimeError, match=r"hmbl\.auto\.js"):
        snippet.template(False)


def test_encoded_automatic_events_script_has_its_own_etag():
    core, auto = snippet.encode(snippet.template(False), "br"), snippet.encode(snippet.auto_script(), "br")
    assert core.etag != auto.etag
    assert auto.encoding == "br"
    assert auto.etag.endswith('-br"')
