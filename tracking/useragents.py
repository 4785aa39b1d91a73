"""Browser, OS and device class of a visitor, from its user agent and screen width.

ua-parser's matchers are built once per process, on first use, and the final answer is cached per
(user agent, width class), so a repeated user agent costs a dict lookup.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ua_parser
from ua_parser import Domain

# Longer user agents are cut before the bot check and parsing (bounds regex work and cache memory).
MAX_USER_AGENT_LENGTH = 1024

DESKTOP = "desktop"
MOBILE = "mobile"
TABLET = "tablet"
DEVICES = (DESKTOP, MOBILE, TABLET)

# Bootstrap's breakpoints, in CSS pixels of screen.width; used only when the user agent says nothing.
MOBILE_MAX_WIDTH = 575
TABLET_MAX_WIDTH = 991

# Names stored in Session.browser/os are at most this long.
MAX_NAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class ClientInfo:
    browser: str  # "" when unknown
    os: str  # "" when unknown
    device: str  # one of DEVICES


# ua-parser family → the name users expect (peers show "Chrome", not "Chrome Mobile iOS").
_BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome WebView",
    "Chromium": "Chromium",
    "Mobile Safari": "Safari",
    # In-app WKWebView on iOS (no browser token): Safari's engine, shown as Safari like peers do.
    "Mobile Safari UI/WKWebView": "Safari",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Firefox Beta": "Firefox",
    "Firefox Focus": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Opera Touch": "Opera",
    "Opera GX": "Opera",
    "IE": "Internet Explorer",
    "IE Mobile": "Internet Explorer",
    "Amazon Silk": "Silk",
    "DuckDuckGo Mobile": "DuckDuckGo",
    "MiuiBrowser": "MIUI Browser",
    "HuaweiBrowser": "Huawei Browser",
    "Google": "Google App",
    "Yandex Browser": "Yandex Browser",
    "Other": "",
}

_OS_NAMES = {
    "Mac OS X": "macOS",
    "Mac OS": "macOS",
    "iOS": "iOS",  # iPadOS reports itself as iOS (or as macOS in desktop mode); kept as iOS.
    "Chrome OS": "Chrome OS",
    "Chromecast": "Chrome OS",
    "Other": "",
}
_LINUX_DISTRIBUTIONS = frozenset(
    {
        "Linux",
        "Ubuntu",
        "Kubuntu",
        "Xubuntu",
        "Lubuntu",
        "Fedora",
        "Debian",
        "Linux Mint",
        "Mint",
        "Arch Linux",
        "Manjaro",
        "openSUSE",
        "SUSE",
        "Red Hat",
        "CentOS",
        "Gentoo",
        "Slackware",
        "Mandriva",
        "elementary OS",
        "Pop!_OS",
    }
)

# Order matters: an iPad also says "Mobile/15E148", so tablets are recognised first. "Tablet PC" is
# a Windows desktop capability token, not a tablet. Android without "Mobile" is a tablet: that is how
# Chrome and other Android browsers tell them apart (Kindle Fire and Nexus 7 included). Plain
# substring tests on the lower-cased string: ~1 µs, against ~30 µs for the equivalent regexes.
_TABLET_TOKENS = ("ipad", "kindle", "silk/", "playbook", "kobo")
_MOBILE_TOKENS = (
    "mobi",
    "iphone",
    "ipod",
    "windows phone",
    "blackberry",
    "bb10",
    "opera mini",
    "j2me",
    "symb",
    "kaios",
    # Feature phones and PDAs: Java ME, NetFront, Windows CE.
    "midp",
    "cldc",
    "netfront",
    "windows ce",
)

# Windows, Linux desktops, Chrome OS. Not Macintosh: iPadOS in desktop mode sends a Mac user agent.
_DESKTOP_TOKENS = ("windows nt", "x11;", "cros ")
# No Mac has a screen narrower than this (in CSS pixels); every iPad does, so a Mac user agent on a
# narrower screen is an iPad in desktop mode.
MAC_MIN_SCREEN_WIDTH = 1280

DEVICE_DATA = Path(__file__).resolve().parent / "data" / "devices.json"


def _model_pattern(path: Path = DEVICE_DATA) -> re.Pattern[str]:
    """One regex over the model families in ``devices.json``: group ``tablet`` or ``phone`` matches.

    The patterns are written in the vendors' own spelling and lower-cased here, because matching the
    lower-cased user agent is ~4x faster than ``re.IGNORECASE`` (so they must not use the upper-case
    escapes ``\\D \\S \\W \\B \\A \\Z``). Tablets come first in the alternation, so "Pixel Tablet" is
    not taken for a Pixel phone.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    groups = []
    for name, key in (("tablet", "tablets"), ("phone", "phones")):
        patterns = [p for family in data[key] for p in family["patterns"]]
        if any(re.search(r"\\[DSWBAZ]", p) for p in patterns):
            raise ValueError(f"{path}: a {key} pattern uses an escape that lower-casing would change")
        groups.append(f"(?P<{name}>{'|'.join(p.lower() for p in patterns)})")
    return re.compile(rf"\b(?:{'|'.join(groups)})\b")


_MODEL_PATTERN = _model_pattern()
_MODEL_DEVICES = {"tablet": TABLET, "phone": MOBILE}

_resolver_lock = threading.Lock()
_resolver: Any = None


def _ua_resolver() -> Any:
    """ua-parser's fastest resolver (the Rust ``regex`` one when installed), built on first use.

    Built lazily because compiling the matchers takes ~0.2 s and most processes (commands, workers)
    never parse a user agent. No ua-parser cache on top: ``_parse_ua`` caches the final answer.
    """
    global _resolver
    if _resolver is None:
        with _resolver_lock:
            if _resolver is None:
                if ua_parser.BestAvailableResolver is ua_parser.BasicResolver:
                    matchers = ua_parser.load_builtins()
                else:
                    matchers = ua_parser.load_lazy_builtins()
                _resolver = ua_parser.BestAvailableResolver(matchers)
    return _resolver


def _browser_name(family: str) -> str:
    return _BROWSER_NAMES.get(family, family)[:MAX_NAME_LENGTH]


def _os_name(family: str) -> str:
    if family in _OS_NAMES:
        return _OS_NAMES[family]
    if family in _LINUX_DISTRIBUTIONS:
        return "Linux"
    # Older ua-parser data says "Windows 10", "Windows 7", "Windows XP"; phones stay distinct.
    if family.startswith("Windows") and not family.startswith(
        ("Windows Phone", "Windows Mobile", "Windows CE")
    ):
        return "Windows"
    return family[:MAX_NAME_LENGTH]


def _device_from_model(lowered: str) -> str | None:
    # The model sits in the platform part, after the Android version: "(linux; android 14; sm-x200
    # build/…)". App clients without parentheses ("linux; u; android 13; mi 10 pro build/…") are
    # searched whole. Starting after "android" halves the regex work.
    platform = lowered.partition(")")[0]
    start = platform.find("android") + 1
    match = _MODEL_PATTERN.search(platform, start + 7 if start else 0)
    return _MODEL_DEVICES[match.lastgroup] if match else None


def _device_from_user_agent(user_agent: str, width_device: str | None = None) -> str | None:
    lowered = user_agent.lower()
    if any(token in lowered for token in _TABLET_TOKENS) or (
        "tablet" in lowered and "tablet pc" not in lowered
    ):
        return TABLET
    is_android = "android" in lowered
    if is_android or "linux;" in lowered:
        model_device = _device_from_model(lowered)
        if model_device is not None:
            return model_device
    if any(token in lowered for token in _MOBILE_TOKENS):
        return MOBILE
    if is_android:
        # Only browsers follow Chrome's convention of "Mobile" on phones; Dalvik and other app
        # clients never say it, and most Android devices are phones.
        if not lowered.startswith("mozilla/"):
            return MOBILE
        # An Android browser without "Mobile" on a phone-sized screen is a phone in desktop mode.
        return MOBILE if width_device == MOBILE else TABLET
    # Desktop systems are desktops in a window of any size (the width is the screen's anyway).
    if any(token in lowered for token in _DESKTOP_TOKENS):
        return DESKTOP
    return None


def _device_from_width(screen_width: int | None) -> str | None:
    if screen_width is None or screen_width <= 0:
        return None
    if screen_width <= MOBILE_MAX_WIDTH:
        return MOBILE
    if screen_width <= TABLET_MAX_WIDTH:
        return TABLET
    return DESKTOP


@lru_cache(maxsize=4096)
def _parse_ua(user_agent: str, width_device: str | None) -> ClientInfo:
    result = _ua_resolver()(user_agent, Domain.USER_AGENT | Domain.OS)
    browser = _browser_name(result.user_agent.family) if result.user_agent else ""
    os = _os_name(result.os.family) if result.os else ""
    device = _device_from_user_agent(user_agent, width_device) or width_device or DESKTOP
    return ClientInfo(browser=browser, os=os, device=device)


def parse_user_agent(user_agent: str | None, screen_width: int | None = None) -> ClientInfo:
    """Browser, OS and device class of a visitor.

    The device comes from the user agent when it says so (iPad, "Tablet", Kindle, Android without
    "Mobile" → tablet; iPhone, "Mobile", Opera Mini → mobile). Otherwise ``screen_width`` (CSS
    pixels, ``screen.width``) decides: under 576 mobile, under 992 tablet, else desktop; this is
    what catches an iPad in desktop mode, which sends a Mac user agent. Default desktop.

    Results are cached per (user agent, width class), so a repeated user agent costs a dict lookup.
    """
    ua = (user_agent or "").strip()[:MAX_USER_AGENT_LENGTH]
    width_device = _device_from_width(screen_width)
    if width_device == DESKTOP and "Macintosh" in ua and screen_width < MAC_MIN_SCREEN_WIDTH:
        width_device = TABLET
    return _parse_ua(ua, width_device)
