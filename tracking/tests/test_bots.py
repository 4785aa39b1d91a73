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
    ("Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", "bot_user_agent"),
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
