import json
import re

import pytest

from tracking.useragents import DEVICE_DATA, ClientInfo, parse_user_agent

CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
CHROME_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15"
SAFARI_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"

# (user agent, browser, os, device): real browsers, none of which is a bot.
BROWSERS = [
    (CHROME_WINDOWS, "Chrome", "Windows", "desktop"),
    (SAFARI_MAC, "Safari", "macOS", "desktop"),
    (CHROME_MAC, "Chrome", "macOS", "desktop"),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox",
        "Linux",
        "desktop",
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox", "Linux", "desktop"),
    (
        "Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox",
        "Linux",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox",
        "macOS",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
        "Edge",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
        "Opera",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
        "Yandex Browser",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Vivaldi/6.7",
        "Vivaldi",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        "Internet Explorer",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Chrome",
        "Chrome OS",
        "desktop",
    ),
    # Electron is allowed: people in desktop apps (Slack, Notion), not a scraper.
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Electron/30.0.1",
        "Electron",
        "Windows",
        "desktop",
    ),
    (SAFARI_IPHONE, "Safari", "iOS", "mobile"),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Safari",
        "iOS",
        "tablet",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        "Chrome",
        "iOS",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
        "Firefox",
        "iOS",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Safari",
        "iOS",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/310.0.621847337 Mobile/15E148 Safari/604.1",
        "Google App",
        "iOS",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/460.0.0.0;FBBV/0;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]",
        "Facebook",
        "iOS",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        "Chrome",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Chrome",
        "Android",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        "Samsung Internet",
        "Android",
        "mobile",
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", "Firefox", "Android", "mobile"),
    ("Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0", "Firefox", "Android", "tablet"),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36",
        "Chrome WebView",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64",
        "Edge",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; moto g 5G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 OPR/82.0.0.0",
        "Opera",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 Brave/124",
        "Brave",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile DuckDuckGo/5 Safari/537.36",
        "DuckDuckGo",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.1.1 like Chrome/124.0.6367.82 Safari/537.36",
        "Silk",
        "Android",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Linux; U; Android 12; en-US; SM-A125F Build/SP1A.210812.016) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
        "UC Browser",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
        "Edge",
        "Windows Phone",
        "mobile",
    ),
    # A phone brand with "bot" in its name.
    (
        "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        "Chrome",
        "Android",
        "mobile",
    ),
]


@pytest.mark.parametrize(("user_agent", "browser", "os", "device"), BROWSERS)
def test_it_names_browser_os_and_device(user_agent, browser, os, device):
    assert parse_user_agent(user_agent, None) == ClientInfo(browser=browser, os=os, device=device)


@pytest.mark.parametrize(
    ("user_agent", "screen_width", "device"),
    [
        # iPadOS in desktop mode sends a Mac user agent: the screen gives it away.
        (SAFARI_MAC, 820, "tablet"),
        (SAFARI_MAC, 1024, "tablet"),
        (SAFARI_MAC, 1280, "desktop"),
        (SAFARI_MAC, 1440, "desktop"),
        # A desktop system is a desktop, whatever the screen (or a narrow window) says.
        (CHROME_WINDOWS, 500, "desktop"),
        (CHROME_WINDOWS, 800, "desktop"),
        (SAFARI_MAC, None, "desktop"),
        (SAFARI_MAC, 0, "desktop"),
        ("Mozilla/5.0 (SomethingOS) Foo/1.0 (like a browser)", 400, "mobile"),
        ("Mozilla/5.0 (SomethingOS) Foo/1.0 (like a browser)", 575, "mobile"),
        ("Mozilla/5.0 (SomethingOS) Foo/1.0 (like a browser)", 576, "tablet"),
        ("Mozilla/5.0 (SomethingOS) Foo/1.0 (like a browser)", 991, "tablet"),
        ("Mozilla/5.0 (SomethingOS) Foo/1.0 (like a browser)", 992, "desktop"),
        # The user agent wins when it is explicit.
        (SAFARI_IPHONE, 1440, "mobile"),
        (CHROME_WINDOWS.replace("Windows NT 10.0; Win64; x64", "Linux; Android 13; SM-X200"), 400, "tablet"),
    ],
)
def test_screen_width_decides_the_device_only_when_the_user_agent_does_not(user_agent, screen_width, device):
    assert parse_user_agent(user_agent, screen_width).device == device


def test_unknown_user_agent_gives_empty_names():
    info = parse_user_agent("Mozilla/5.0 (X11; SomethingOS) Foo/1.0 (like a browser)", None)
    assert info == ClientInfo(browser="", os="", device="desktop")
    assert parse_user_agent(None, None) == ClientInfo(browser="", os="", device="desktop")


def test_parsing_is_cached_per_user_agent_and_width_class():
    first = parse_user_agent(CHROME_MAC, 1440)
    assert parse_user_agent(CHROME_MAC, 1920) is first
    assert parse_user_agent(CHROME_MAC, 800) is not first


def _android(model: str, tail: str = "Mobile Safari/537.36") -> str:
    return f"Mozilla/5.0 (Linux; Android 13; {model}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 {tail}"


def _webview(model: str) -> str:
    return _android(f"{model} Build/TP1A.220624.014; wv", "Version/4.0 Mobile Safari/537.36 [FB_IAB/FB4A]")


# Tablets whose user agent says "Mobile" (in-app webviews, UC, Yandex, Firefox) or names no tablet:
# one per model family in tracking/data/devices.json.
TABLETS = [
    _webview("SM-X200"),  # Samsung Galaxy Tab A8 (SM-X)
    _android("SM-T505"),  # Samsung Galaxy Tab A7 (SM-T)
    _webview("KFTRWI"),  # Amazon Fire HD 10 without Silk
    "Mozilla/5.0 (Linux; Android 5.0; Nexus 9 Build/LRX21R) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Mobile Crosswalk/7.36.154.13 Safari/537.36",
    _webview("SHT-W09"),  # Huawei MediaPad M5 8.4, Wi-Fi
    _webview("AGS3K-L09"),  # Huawei MatePad T10s, LTE
    "Mozilla/5.0 (Linux; Android 10; KOB2-AL00HN; HMSCore 6.0.0.306) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.93 HuaweiBrowser/11.1.3.300 Mobile Safari/537.36",
    _webview("HEY2-N09"),  # Honor Pad 9
    _android("Lenovo TB-X606F"),  # Lenovo Tab M10 FHD Plus
    _android("TB310FU"),  # Lenovo Tab M9, no hyphen since 2022
    "Mozilla/5.0 (Android 11; Mobile; Lenovo YT-X705X; rv:129.0) Gecko/129.0 Firefox/129.0",
    _webview("23043RP34G"),  # Xiaomi Pad 6
    _android("Redmi Pad SE"),
    _android("M2105K81C"),  # Xiaomi Pad 5 Pro
    _android("OPD2101"),  # OPPO Pad
    _webview("d-42A"),  # docomo dtab
    _android("SGP521"),  # Sony Xperia Z2 Tablet
    "Dalvik/2.1.0 (Linux; U; Android 13; Nokia T21 Build/TP1A.220624.014)",
    "Mozilla/5.0 (Linux; U; Android 4.1.2; en-us; Barnes & Noble Nook HD+ Build/JZO54K) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
    "Mozilla/5.0 (Unknown; Linux) AppleWebKit/538.1 (KHTML, like Gecko) Kobo eReader Safari/538.1",
    "Mozilla/5.0 (Linux; 13; TB310XU) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
]

# Phones that must stay phones: lookalike model numbers, phones without "Mobile" (desktop mode, app
# clients), feature phones.
PHONES = [
    _android("SM-S918B"),
    _android("SM-G920I Build/KOT49H", "Safari/537.36"),  # Galaxy S6 without "Mobile"
    _android("Pixel 2 XL Build/OPM1.171019.013", "Safari/537.36"),
    _android("ELE-L29"),  # Huawei P30: a Huawei code, but a phone's
    _android("ANY-LX1"),  # Honor Magic 5 Lite
    _android("23021RAA2Y"),  # Redmi Note 12: RA, not RP
    _android("Lenovo A6000"),
    _android("Nokia G21"),
    _webview("SO-51C"),  # docomo's Sony phone, not a dtab
    "Dalvik/2.1.0 (Linux; U; Android 9; Mi MIX 3 5G MIUI/V10.3.2.0.PEMEUVF)",
    "Linux; U; Android 13; Mi 10 Pro Build/TKQ1.221114.001",
    "Nokia303/14.87 CLDC-1.1",
    "ZTE-Z431/1.4.0 NetFront/4.2 QTV5.1 Profile/MIDP-2.1 Configuration/CLDC-1.1",
    "Mozilla/4.0 (PDA; Windows CE/1.0.1) NetFront/3.0",
]


@pytest.mark.parametrize("user_agent", TABLETS)
def test_tablets_are_recognised_by_their_model_even_when_the_user_agent_says_mobile(user_agent):
    assert parse_user_agent(user_agent, None).device == "tablet"
    assert parse_user_agent(user_agent, 800).device == "tablet"


@pytest.mark.parametrize("user_agent", PHONES)
def test_phones_stay_phones(user_agent):
    assert parse_user_agent(user_agent, None).device == "mobile"
    assert parse_user_agent(user_agent, 1440).device == "mobile"


@pytest.mark.parametrize(
    "user_agent",
    [
        CHROME_WINDOWS,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ],
)
@pytest.mark.parametrize("screen_width", [360, 390, 768, 1024])
def test_desktops_stay_desktops_on_narrow_screens(user_agent, screen_width):
    assert parse_user_agent(user_agent, screen_width).device == "desktop"


@pytest.mark.parametrize(("screen_width", "device"), [(None, "tablet"), (390, "mobile"), (800, "tablet")])
def test_an_unknown_android_model_without_mobile_is_a_tablet_unless_the_screen_is_phone_sized(
    screen_width, device
):
    user_agent = _android("QTAQZ3 Build/LMY47V", "Safari/537.36")
    assert parse_user_agent(user_agent, screen_width).device == device


def test_every_device_model_family_says_where_it_comes_from_and_compiles():
    data = json.loads(DEVICE_DATA.read_text(encoding="utf-8"))
    families = data["tablets"] + data["phones"]
    assert len(families) >= 10
    for family in families:
        assert family["family"] and family["source"] and family["patterns"]
        for pattern in family["patterns"]:
            re.compile(pattern)
