import pytest

from tracking import enrich
from tracking.enrich import (
    BOT_REASONS,
    CHANNELS,
    DIRECT,
    EMAIL,
    EMAIL_SOURCES,
    NO_REFERRER,
    ORGANIC_SEARCH,
    ORGANIC_SOCIAL,
    PAID_SEARCH,
    PAID_SOCIAL,
    REFERRAL,
    SEARCH_SOURCES,
    SOCIAL_SOURCES,
    ClientInfo,
    Referrer,
    Utm,
    bot_reason,
    channel,
    click_ids_from_url,
    client_ip,
    country_for,
    is_bot,
    parse_user_agent,
    referrer_source,
    utm_from_url,
)

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

# (user agent, reason)
BOTS = [
    ("", "empty_user_agent"),
    ("   ", "empty_user_agent"),
    ("Mozilla/5.0", "short_user_agent"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "crawler",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        "crawler",
    ),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "crawler"),
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "crawler"),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "crawler"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "crawler",
    ),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "crawler"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "crawler"),
    ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", "crawler"),
    (
        "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
        "crawler",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot",
        "crawler",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
        "crawler",
    ),
    ("CCBot/2.0 (https://commoncrawl.org/faq/)", "crawler"),
    (
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
        "crawler",
    ),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "link_preview"),
    ("Twitterbot/1.0", "link_preview"),
    ("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", "link_preview"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "link_preview"),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "link_preview"),
    ("WhatsApp/2.23.20.0 A", "link_preview"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
        "headless_browser",
    ),
    (
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
        "headless_browser",
    ),
    ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "uptime_monitor"),
    ("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "uptime_monitor"),
    ("Mozilla/5.0 (compatible; StatusCake)", "uptime_monitor"),
    ("Mozilla/5.0 (compatible; Site24x7)", "uptime_monitor"),
    ("Datadog/Synthetics", "uptime_monitor"),
    ("NewRelicPinger/1.0 (2345678)", "uptime_monitor"),
    (
        "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36",
        "uptime_monitor",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 GTmetrix",
        "uptime_monitor",
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "uptime_monitor",
    ),
    ("curl/8.4.0", "http_library"),
    ("Wget/1.21.4", "http_library"),
    ("python-requests/2.31.0", "http_library"),
    ("Python-urllib/3.11", "http_library"),
    ("Python/3.11 aiohttp/3.9.1", "http_library"),
    ("python-httpx/0.27.0", "http_library"),
    ("Go-http-client/2.0", "http_library"),
    ("okhttp/4.12.0", "http_library"),
    ("Java/17.0.2", "http_library"),
    ("libwww-perl/6.72", "http_library"),
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "http_library"),
    ("axios/1.6.2", "http_library"),
    ("PostmanRuntime/7.36.0", "http_library"),
    ("Apache-HttpClient/4.5.14 (Java/17.0.9)", "http_library"),
    ("Mozilla/5.0 (compatible; MyCustomCrawler/1.0)", "bot_user_agent"),
    ("Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", "bot_user_agent"),
    ("ExampleScraper/1.0 (contact: ops@example.com)", "bot_user_agent"),
    ("Mozilla/5.0 (compatible; SomeNewBot/0.1)", "bot_user_agent"),
]


@pytest.mark.parametrize(("user_agent", "browser", "os", "device"), BROWSERS)
def test_it_names_browser_os_and_device(user_agent, browser, os, device):
    assert parse_user_agent(user_agent, None) == ClientInfo(browser=browser, os=os, device=device)


@pytest.mark.parametrize("user_agent", [row[0] for row in BROWSERS])
def test_real_browsers_are_not_bots(user_agent):
    assert bot_reason(user_agent) is None
    assert is_bot(user_agent) is False


@pytest.mark.parametrize(("user_agent", "reason"), BOTS)
def test_it_recognises_bots_with_a_reason(user_agent, reason):
    assert bot_reason(user_agent) == reason
    assert is_bot(user_agent) is True


def test_none_user_agent_is_a_bot():
    assert bot_reason(None) == "empty_user_agent"


def test_bot_reasons_are_listed():
    assert {reason for _, reason in BOTS} == set(BOT_REASONS)


@pytest.mark.parametrize(
    ("reason", "substring"),
    [
        (reason, substring)
        for reason, substrings in enrich._BOT_SUBSTRINGS.items()
        for substring in substrings
    ],
)
def test_every_bot_name_is_matched_inside_a_user_agent(reason, substring):
    # Exercises the trie-shaped regex: each listed name must match on its own, in any case.
    user_agent = f"Mozilla/5.0 (compatible; {substring.upper()} 1.0)"
    assert bot_reason(user_agent) == reason


def test_bot_check_cuts_very_long_user_agents():
    assert bot_reason(CHROME_WINDOWS + " " * 5000 + "Googlebot") is None
    assert bot_reason(CHROME_WINDOWS + " x" * 200 + " Googlebot") == "crawler"


@pytest.mark.parametrize(
    ("user_agent", "screen_width", "device"),
    [
        # iPadOS in desktop mode sends a Mac user agent: the screen gives it away.
        (SAFARI_MAC, 820, "tablet"),
        (SAFARI_MAC, 1440, "desktop"),
        (SAFARI_MAC, None, "desktop"),
        (SAFARI_MAC, 0, "desktop"),
        ("Mozilla/5.0 (X11; SomethingOS) Foo/1.0 (like a browser)", 400, "mobile"),
        ("Mozilla/5.0 (X11; SomethingOS) Foo/1.0 (like a browser)", 575, "mobile"),
        ("Mozilla/5.0 (X11; SomethingOS) Foo/1.0 (like a browser)", 576, "tablet"),
        ("Mozilla/5.0 (X11; SomethingOS) Foo/1.0 (like a browser)", 991, "tablet"),
        ("Mozilla/5.0 (X11; SomethingOS) Foo/1.0 (like a browser)", 992, "desktop"),
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


SITE = "example.com"

# (referrer, source, domain)
REFERRERS = [
    ("https://www.google.com/", "Google", "google.com"),
    ("https://www.google.co.uk/search?q=x", "Google", "google.co.uk"),
    ("https://google.com.br/", "Google", "google.com.br"),
    ("https://news.google.com/articles/x", "Google", "news.google.com"),
    ("https://gemini.google.com/app", "Gemini", "gemini.google.com"),
    ("https://mail.google.com/mail/u/0/", "Gmail", "mail.google.com"),
    ("https://www.bing.com/", "Bing", "bing.com"),
    ("https://cn.bing.com/search?q=x", "Bing", "cn.bing.com"),
    ("https://duckduckgo.com/", "DuckDuckGo", "duckduckgo.com"),
    ("https://search.yahoo.com/", "Yahoo", "search.yahoo.com"),
    ("https://search.yahoo.co.jp/", "Yahoo", "search.yahoo.co.jp"),
    ("https://yandex.ru/search/?text=x", "Yandex", "yandex.ru"),
    ("https://ya.ru/", "Yandex", "ya.ru"),
    ("https://www.baidu.com/link?url=x", "Baidu", "baidu.com"),
    ("https://www.ecosia.org/", "Ecosia", "ecosia.org"),
    ("https://search.brave.com/search?q=x", "Brave Search", "search.brave.com"),
    ("https://www.qwant.com/", "Qwant", "qwant.com"),
    ("https://www.startpage.com/", "Startpage", "startpage.com"),
    ("https://kagi.com/search?q=x", "Kagi", "kagi.com"),
    ("https://search.naver.com/", "Naver", "search.naver.com"),
    ("https://search.seznam.cz/", "Seznam", "search.seznam.cz"),
    ("https://chatgpt.com/", "ChatGPT", "chatgpt.com"),
    ("https://chat.openai.com/", "ChatGPT", "chat.openai.com"),
    ("https://www.perplexity.ai/", "Perplexity", "perplexity.ai"),
    ("https://claude.ai/", "Claude", "claude.ai"),
    ("https://copilot.microsoft.com/", "Copilot", "copilot.microsoft.com"),
    ("https://t.co/abc", "Twitter", "t.co"),
    ("https://twitter.com/someone", "Twitter", "twitter.com"),
    ("https://x.com/", "Twitter", "x.com"),
    ("https://www.facebook.com/", "Facebook", "facebook.com"),
    ("https://m.facebook.com/", "Facebook", "m.facebook.com"),
    ("https://l.facebook.com/l.php?u=x", "Facebook", "l.facebook.com"),
    ("https://lm.facebook.com/", "Facebook", "lm.facebook.com"),
    ("https://fb.com/", "Facebook", "fb.com"),
    ("https://l.instagram.com/?u=x", "Instagram", "l.instagram.com"),
    ("https://www.linkedin.com/feed/", "LinkedIn", "linkedin.com"),
    ("https://lnkd.in/abc", "LinkedIn", "lnkd.in"),
    ("https://www.reddit.com/r/x", "Reddit", "reddit.com"),
    ("https://old.reddit.com/", "Reddit", "old.reddit.com"),
    ("https://out.reddit.com/", "Reddit", "out.reddit.com"),
    ("https://news.ycombinator.com/item?id=1", "Hacker News", "news.ycombinator.com"),
    ("https://github.com/owner/repo", "GitHub", "github.com"),
    ("https://www.youtube.com/", "YouTube", "youtube.com"),
    ("https://m.youtube.com/", "YouTube", "m.youtube.com"),
    ("https://youtu.be/x", "YouTube", "youtu.be"),
    ("https://www.pinterest.com/", "Pinterest", "pinterest.com"),
    ("https://pinterest.co.uk/", "Pinterest", "pinterest.co.uk"),
    ("https://www.tiktok.com/", "TikTok", "tiktok.com"),
    ("https://www.threads.net/", "Threads", "threads.net"),
    ("https://bsky.app/profile/x", "Bluesky", "bsky.app"),
    ("https://www.producthunt.com/posts/x", "Product Hunt", "producthunt.com"),
    ("https://medium.com/@x/post", "Medium", "medium.com"),
    ("https://someone.medium.com/", "Medium", "someone.medium.com"),
    ("https://example.substack.com/p/x", "Substack", "example.substack.com"),
    ("https://stackoverflow.com/questions/1", "Stack Overflow", "stackoverflow.com"),
    ("https://outlook.live.com/mail/0/", "Outlook", "outlook.live.com"),
    ("https://outlook.office.com/", "Outlook", "outlook.office.com"),
    ("https://mail.yahoo.com/", "Yahoo Mail", "mail.yahoo.com"),
    ("https://mail.proton.me/u/0/inbox", "Proton Mail", "mail.proton.me"),
    ("android-app://com.google.android.gm/", "Gmail", "com.google.android.gm"),
    (
        "android-app://com.google.android.googlequicksearchbox/",
        "Google",
        "com.google.android.googlequicksearchbox",
    ),
    ("android-app://com.Slack", "Slack", "com.slack"),
    ("android-app://org.example.reader/", "org.example.reader", "org.example.reader"),
    # Unknown sites: the bare domain, lower-cased, without www., port or trailing dot.
    ("https://blog.example.org/post", "blog.example.org", "blog.example.org"),
    ("https://www.indiehackers.com/post/x", "indiehackers.com", "indiehackers.com"),
    ("http://Some-Site.IO:8080/x", "some-site.io", "some-site.io"),
    ("https://dev.to/x.", "dev.to", "dev.to"),
    ("https://docs.google.com/document/d/1", "docs.google.com", "docs.google.com"),
    ("https://notexample.com/", "notexample.com", "notexample.com"),
    ("https://example.com.evil.io/", "example.com.evil.io", "example.com.evil.io"),
    ("http://[2001:db8::1]/", "2001:db8::1", "2001:db8::1"),
]


@pytest.mark.parametrize(("referrer", "source", "domain"), REFERRERS)
def test_it_names_referrer_sources(referrer, source, domain):
    assert referrer_source(referrer, SITE) == Referrer(source=source, domain=domain)


@pytest.mark.parametrize(
    "referrer",
    [
        "https://example.com/pricing",
        "https://www.example.com/",
        "https://app.example.com/login",
        "https://EXAMPLE.com./",
        "http://example.com:8000/",
    ],
)
def test_internal_navigation_is_not_a_source(referrer):
    assert referrer_source(referrer, SITE) == NO_REFERRER


def test_site_domain_with_www_still_matches_its_bare_domain():
    assert referrer_source("https://example.com/", "www.example.com") == NO_REFERRER
    assert referrer_source("https://blog.example.com/", "www.example.com") == NO_REFERRER


@pytest.mark.parametrize(
    "referrer",
    [
        None,
        "",
        "   ",
        "not a url",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "about:blank",
        "chrome-extension://abcdef/page.html",
        "https://",
        "http://[::1",
        "https://exa mple.com/",
        "https://bad_host!.com/",
        "android-app://",
    ],
)
def test_garbage_referrers_have_no_source(referrer):
    assert referrer_source(referrer, SITE) == NO_REFERRER


def test_every_named_source_has_a_channel_category():
    named = {
        *enrich._HOST_NAMES.values(),
        *enrich._DOMAIN_NAMES.values(),
        *enrich._BRAND_NAMES.values(),
        *enrich._ANDROID_APP_NAMES.values(),
    }
    uncategorised = named - SEARCH_SOURCES - SOCIAL_SOURCES - EMAIL_SOURCES - enrich.AI_SOURCES
    assert uncategorised == {"GitHub", "Medium", "Substack", "Stack Overflow"}


def test_utm_parameters_are_decoded_and_stripped():
    url = (
        "https://example.com/p?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale"
        "&utm_term=running+shoes&utm_content=%20hero%20&other=1"
    )
    assert utm_from_url(url) == Utm(
        source="newsletter", medium="email", campaign="spring sale", term="running shoes", content="hero"
    )


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "https://example.com/",
        "https://example.com/?",
        "https://example.com/#utm_source=x",
        "http://[::1",
    ],
)
def test_missing_utm_gives_empty_strings(url):
    assert utm_from_url(url) == Utm(source="", medium="", campaign="", term="", content="")


def test_utm_values_are_capped_at_200_characters():
    utm = utm_from_url("https://example.com/?utm_campaign=" + "a" * 300 + "&utm_source=%20" + "b" * 250)
    assert utm.campaign == "a" * 200
    assert utm.source == "b" * 200


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://example.com/?ref=producthunt", "producthunt"),
        ("https://example.com/?source=hn", "hn"),
        ("https://example.com/?ref=producthunt&utm_source=twitter", "twitter"),
        ("https://example.com/?utm_source=&ref=producthunt", "producthunt"),
        ("https://example.com/?ref=&source=hn", "hn"),
        ("https://example.com/?UTM_SOURCE=Google", "Google"),
        ("https://example.com/?utm_source=first&utm_source=second", "first"),
    ],
)
def test_ref_and_source_stand_in_for_utm_source(url, source):
    assert utm_from_url(url).source == source


def test_bad_percent_encoding_does_not_raise():
    assert utm_from_url("https://example.com/?utm_source=%E0%A4%A&utm_medium=%ZZ").medium == "%ZZ"


def test_click_ids_are_read_from_the_url():
    assert click_ids_from_url("https://example.com/?gclid=abc&fbclid=x&msclkid=") == {"gclid", "fbclid"}
    assert click_ids_from_url("https://example.com/") == frozenset()


def test_channels_are_listed_in_order():
    assert CHANNELS == (
        "Direct",
        "Organic Search",
        "Paid Search",
        "Organic Social",
        "Paid Social",
        "Email",
        "Referral",
    )


@pytest.mark.parametrize(
    ("source", "referrer_domain", "utm", "click_ids", "expected"),
    [
        ("", "", Utm(), (), DIRECT),
        ("Google", "google.com", Utm(), (), ORGANIC_SEARCH),
        ("DuckDuckGo", "duckduckgo.com", Utm(), (), ORGANIC_SEARCH),
        ("", "", Utm(source="bing"), (), ORGANIC_SEARCH),
        ("", "", Utm(source="someengine", medium="organic"), (), ORGANIC_SEARCH),
        # An unknown utm_source does not hide a known referrer.
        ("Google", "google.com", Utm(source="spring_promo"), (), ORGANIC_SEARCH),
        # Paid: search vs social by the source.
        ("Google", "google.com", Utm(medium="cpc"), (), PAID_SEARCH),
        ("", "", Utm(source="google", medium="cpc"), (), PAID_SEARCH),
        ("", "", Utm(source="bing", medium="PPC"), (), PAID_SEARCH),
        ("", "", Utm(source="partner", medium="retargeting"), (), PAID_SEARCH),
        ("", "", Utm(source="facebook", medium="cpc"), (), PAID_SOCIAL),
        ("", "", Utm(source="linkedin", medium="paid"), (), PAID_SOCIAL),
        ("", "", Utm(source="x", medium="cpm"), (), PAID_SOCIAL),
        ("Facebook", "l.facebook.com", Utm(medium="paid-ads"), (), PAID_SOCIAL),
        ("", "", Utm(source="partner", medium="paid_social"), (), PAID_SOCIAL),
        # Click ids: search ones are paid, fbclid is not.
        ("", "", Utm(), ("gclid",), PAID_SEARCH),
        ("Google", "google.com", Utm(), ("gbraid",), PAID_SEARCH),
        ("Bing", "bing.com", Utm(), ("msclkid",), PAID_SEARCH),
        ("Facebook", "l.facebook.com", Utm(), ("fbclid",), ORGANIC_SOCIAL),
        ("", "", Utm(), ("fbclid",), DIRECT),
        # Email by medium, by source, and by webmail referrer.
        ("", "", Utm(source="newsletter", medium="email"), (), EMAIL),
        ("", "", Utm(source="acme", medium="E-mail"), (), EMAIL),
        ("", "", Utm(source="acme", medium="newsletter"), (), EMAIL),
        ("", "", Utm(source="newsletter"), (), EMAIL),
        ("Gmail", "mail.google.com", Utm(), (), EMAIL),
        ("Outlook", "outlook.live.com", Utm(), (), EMAIL),
        ("Gmail", "com.google.android.gm", Utm(), (), EMAIL),
        # Social by medium and by source.
        ("", "", Utm(source="mastodon", medium="social"), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="forum", medium="sm"), (), ORGANIC_SOCIAL),
        ("Twitter", "t.co", Utm(), (), ORGANIC_SOCIAL),
        ("Hacker News", "news.ycombinator.com", Utm(), (), ORGANIC_SOCIAL),
        ("Reddit", "old.reddit.com", Utm(), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="twitter"), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="x.com"), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="producthunt"), (), ORGANIC_SOCIAL),
        # A known utm_source wins over the referrer.
        ("Google", "google.com", Utm(source="twitter"), (), ORGANIC_SOCIAL),
        # AI assistants are referrals (ChatGPT tags its links utm_source=chatgpt.com).
        ("ChatGPT", "chatgpt.com", Utm(), (), REFERRAL),
        ("", "", Utm(source="chatgpt.com"), (), REFERRAL),
        ("Perplexity", "perplexity.ai", Utm(), (), REFERRAL),
        ("Gemini", "gemini.google.com", Utm(), (), REFERRAL),
        # Everything else with a referrer or a tag.
        ("blog.example.org", "blog.example.org", Utm(), (), REFERRAL),
        ("GitHub", "github.com", Utm(), (), REFERRAL),
        ("", "", Utm(source="partner"), (), REFERRAL),
        ("", "", Utm(campaign="launch"), (), REFERRAL),
    ],
)
def test_channel_rules(source, referrer_domain, utm, click_ids, expected):
    assert channel(source, referrer_domain, utm, click_ids) == expected


def test_channel_end_to_end_from_a_referrer_and_url():
    referrer = referrer_source("https://l.facebook.com/l.php?u=x", SITE)
    url = "https://example.com/?utm_source=fb&utm_medium=paid_social&utm_campaign=launch&fbclid=x"
    assert (
        channel(referrer.source, referrer.domain, utm_from_url(url), click_ids_from_url(url)) == PAID_SOCIAL
    )


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "trusted", "expected"),
    [
        ("203.0.113.7", None, 0, "203.0.113.7"),
        # Without trusted proxies X-Forwarded-For is the client's word and is ignored.
        ("203.0.113.7", "198.51.100.1", 0, "203.0.113.7"),
        ("10.0.0.2", "198.51.100.1", 1, "198.51.100.1"),
        # A spoofed left-most entry is ignored.
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", 1, "198.51.100.1"),
        ("10.0.0.3", "6.6.6.6, 198.51.100.1, 10.0.0.2", 2, "198.51.100.1"),
        ("10.0.0.3", "198.51.100.1, 10.0.0.2", 2, "198.51.100.1"),
        # Shorter than the proxy chain: the left-most entry.
        ("10.0.0.3", "198.51.100.1", 2, "198.51.100.1"),
        ("10.0.0.2", None, 1, "10.0.0.2"),
        ("10.0.0.2", "", 1, "10.0.0.2"),
        (" 10.0.0.2 ", " 6.6.6.6 ,  198.51.100.1 ", 1, "198.51.100.1"),
        # Ports, brackets, IPv6 normalisation, IPv4-mapped IPv6.
        ("10.0.0.2", "198.51.100.1:53211", 1, "198.51.100.1"),
        ("10.0.0.2", "2001:db8::1", 1, "2001:db8::1"),
        ("10.0.0.2", "[2001:DB8:0:0::1]:443", 1, "2001:db8::1"),
        ("10.0.0.2", "::ffff:198.51.100.1", 1, "198.51.100.1"),
        ("[2001:db8::2]:8000", None, 0, "2001:db8::2"),
        ("203.0.113.7:1234", None, 0, "203.0.113.7"),
        # Invalid entries fall back to REMOTE_ADDR.
        ("10.0.0.2", "unknown", 1, "10.0.0.2"),
        ("10.0.0.2", "6.6.6.6, <script>", 1, "10.0.0.2"),
        ("10.0.0.2", "999.1.1.1", 1, "10.0.0.2"),
        ("", None, 0, ""),
        ("garbage", "garbage", 1, ""),
    ],
)
def test_client_ip(remote_addr, forwarded_for, trusted, expected):
    assert client_ip(remote_addr, forwarded_for, trusted) == expected


@pytest.mark.parametrize(
    ("ip", "header", "expected"),
    [
        ("8.8.8.8", None, "US"),
        ("2001:4860:4860::8888", None, "US"),
        ("81.2.69.160", None, "GB"),
        ("8.8.8.8", "gb", "GB"),
        ("10.0.0.1", "DE", "DE"),
        # Not countries in the header: unknown, Tor, too long, not letters → the IP decides.
        ("8.8.8.8", "XX", "US"),
        ("8.8.8.8", "T1", "US"),
        ("8.8.8.8", "USA", "US"),
        ("8.8.8.8", "1 ", "US"),
        ("8.8.8.8", "", "US"),
        # Private, loopback, invalid and missing addresses have no country.
        ("10.0.0.1", None, ""),
        ("192.168.1.1", None, ""),
        ("127.0.0.1", None, ""),
        ("::1", None, ""),
        ("garbage", None, ""),
        ("", "XX", ""),
        (None, None, ""),
    ],
)
def test_country(ip, header, expected):
    assert country_for(ip, header) == expected
