import pytest

from tracking import bots
from tracking.bots import BOT_REASONS, bot_reason, is_bot
from tracking.tests.test_useragents import BROWSERS, CHROME_WINDOWS

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
    ("Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", "crawler"),
    ("ExampleScraper/1.0 (contact: ops@example.com)", "bot_user_agent"),
    ("Mozilla/5.0 (compatible; SomeNewBot/0.1)", "bot_user_agent"),
]


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
    [(reason, substring) for reason, substrings in bots._BOT_SUBSTRINGS.items() for substring in substrings],
)
def test_every_bot_name_is_matched_inside_a_user_agent(reason, substring):
    # Exercises the trie-shaped regex: each listed name must match on its own, in any case.
    user_agent = f"Mozilla/5.0 (compatible; {substring.upper()} 1.0)"
    assert bot_reason(user_agent) == reason


def test_bot_check_cuts_very_long_user_agents():
    assert bot_reason(CHROME_WINDOWS + " " * 5000 + "Googlebot") is None
    assert bot_reason(CHROME_WINDOWS + " x" * 200 + " Googlebot") == "crawler"


CHROME_ANDROID_WV = (
    "Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36"
)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


@pytest.mark.parametrize(
    "user_agent",
    [
        # Substrings that used to drop people: CamScanner's "scanner", carriers named "Botswana".
        CHROME_ANDROID_WV + " CamScanner/6.50.0",
        CHROME_ANDROID_WV + " [FB_IAB/FB4A;FBAV/441.0.0.33.113;] Mascom Botswana",
        IPHONE + " [FBAN/FBIOS;FBAV/456.0.0.41.106;FBCR/Orange Botswana;FBID/phone;FBLC/en_US;FBOP/5]",
        # In-app browsers.
        IPHONE + " Instagram 325.0.0.35.91 (iPhone14,5; iOS 17_4; en_US; en; scale=3.00; 1170x2532)",
        CHROME_ANDROID_WV + " musical_ly_2023307020 JsSdk/1.0 NetType/WIFI Channel/googleplay",
        IPHONE + " LinkedInApp/9.29.8",
        CHROME_ANDROID_WV + " Line/13.21.1/IAB",
        IPHONE + " Snapchat/12.70.0.36 (like Safari/8617.1.17.10.5, panda)",
        CHROME_ANDROID_WV + " Viber/11.9.5.8",
        CHROME_ANDROID_WV + " MMWEBID/4064 MicroMessenger/7.0.10.1580(0x27000A34) Process/tools NetType/WIFI",
        # Electron desktop apps are people too.
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.115.0 "
        "Chrome/142.0.7444.265 Electron/39.8.5 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.14; rv:60.0) Gecko/20100101 Thunderbird/60.6.1 Lightning/6.2.6.1",
    ],
)
def test_in_app_browsers_are_people(user_agent):
    assert bot_reason(user_agent) is None


@pytest.mark.parametrize(
    ("user_agent", "reason"),
    [
        (CHROME_WINDOWS + " Google-Agent", "headless_browser"),
        (CHROME_WINDOWS + " Manus/1.0", "headless_browser"),
        (CHROME_WINDOWS + " DatadogSynthetics", "uptime_monitor"),
        (CHROME_WINDOWS + " RuxitSynthetic/1.0 v123 t456", "uptime_monitor"),
        (CHROME_WINDOWS + " NewRelicSynthetics/1.0", "uptime_monitor"),
        ("Mozilla/5.0 (compatible; Yeti/1.1; +http://naver.me/spd)", "crawler"),  # crawler-user-agents
        (
            "Mozilla/5.0 (compatible; Mixnode) AppleWebKit/537.36 (KHTML, like Gecko)",
            "bot_user_agent",
        ),  # isbot
        ("Mozilla/5.0 (compatible; FooBots 1.0)", "bot_user_agent"),
        ("Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)", "http_library"),
        ("MyApp/1 iPhone5,2 iOS/10_1 CFNetwork/808.3 Darwin/16.3.0", "http_library"),
    ],
)
def test_automation_monitors_and_listed_crawlers_are_bots(user_agent, reason):
    assert bot_reason(user_agent) == reason


def test_every_maintained_pattern_compiles_and_the_ignored_ones_exist():
    texts = set(bots._CRAWLER_TEXTS)
    assert len(texts) > 1000  # the crawler-user-agents list, not a handful
    assert "ning/" not in texts and "googlebot/" in texts
