import pytest

from tracking.useragents import ClientInfo, parse_user_agent

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
