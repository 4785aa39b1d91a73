import pytest

from tracking import referrers
from tracking.referrers import AI, EMAIL, NO_REFERRER, OTHER, SEARCH, SHOPPING, SOCIAL, VIDEO, referrer_source

SITE = "example.com"

# (referrer, source, domain)
REFERRERS = [
    ("https://www.google.com/", "Google", "google.com"),
    ("https://www.google.co.uk/search?q=x", "Google", "google.co.uk"),
    ("https://google.com.br/", "Google", "google.com.br"),
    ("https://news.google.com/articles/x", "Google News", "news.google.com"),
    ("https://gemini.google.com/app", "Gemini", "gemini.google.com"),
    ("https://mail.google.com/mail/u/0/", "Gmail", "mail.google.com"),
    ("https://www.bing.com/", "Bing", "bing.com"),
    ("https://cn.bing.com/search?q=x", "Bing", "cn.bing.com"),
    ("https://duckduckgo.com/", "DuckDuckGo", "duckduckgo.com"),
    ("https://search.yahoo.com/", "Yahoo", "search.yahoo.com"),
    ("https://search.yahoo.co.jp/", "Yahoo Japan", "search.yahoo.co.jp"),
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
    found = referrer_source(referrer, SITE)
    assert (found.source, found.domain) == (source, domain)


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


@pytest.mark.parametrize(
    ("referrer", "name", "category"),
    [
        # AI assistants, each by name.
        ("https://chatgpt.com/", "ChatGPT", AI),
        ("https://chat.openai.com/", "ChatGPT", AI),
        ("https://www.perplexity.ai/search/x", "Perplexity", AI),
        ("https://claude.ai/chat/1", "Claude", AI),
        ("https://gemini.google.com/app", "Gemini", AI),
        ("https://copilot.microsoft.com/", "Copilot", AI),
        ("android-app://com.openai.chatgpt/", "ChatGPT", AI),
        # Webmail beyond the big six, including hosts no list names.
        ("https://mail.google.com/mail/u/0/", "Gmail", EMAIL),
        ("https://navigator-bs.gmx.com/mail", "GMX", EMAIL),
        ("https://deref-web.de/mail/client/x", "Web.de", EMAIL),
        ("https://email.t-online.de/em", "T-Online", EMAIL),
        ("https://mail.zoho.eu/", "Zoho Mail", EMAIL),
        ("https://e.mail.ru/inbox/", "Mail.ru", EMAIL),
        ("https://mail01.orange.fr/", "mail01.orange.fr", EMAIL),
        ("https://webmail.spectrum.net/", "webmail.spectrum.net", EMAIL),
        # Social networks that used to be plain referrals.
        ("https://vk.com/wall1", "VK", SOCIAL),
        ("https://weibo.com/u/1", "Weibo", SOCIAL),
        ("https://www.quora.com/q", "Quora", SOCIAL),
        ("https://someone.tumblr.com/post/1", "Tumblr", SOCIAL),
        ("https://www.snapchat.com/", "Snapchat", SOCIAL),
        ("https://web.whatsapp.com/", "WhatsApp", SOCIAL),
        ("https://mastodon.social/@x/1", "Mastodon", SOCIAL),
        ("https://line.me/R/msg/text/", "LINE", SOCIAL),
        # Search engines that used to be plain referrals.
        ("https://search.aol.com/aol/search?q=x", "AOL", SEARCH),
        ("https://www.ask.com/web?q=x", "Ask", SEARCH),
        ("https://www.sogou.com/web?query=x", "Sogou", SEARCH),
        ("https://search.daum.net/search?q=x", "Daum", SEARCH),
        # A portal's other sections are not its search engine.
        ("https://news.yahoo.com/story", "news.yahoo.com", OTHER),
        ("https://finance.yahoo.com/quote/X", "finance.yahoo.com", OTHER),
        ("https://docs.google.com/document/d/1", "docs.google.com", OTHER),
        ("https://www.youtube.com/watch?v=1", "YouTube", VIDEO),
        ("https://www.twitch.tv/x", "Twitch", VIDEO),
        ("https://www.amazon.co.uk/dp/1", "Amazon", SHOPPING),
        ("https://www.ebay.de/itm/1", "eBay", SHOPPING),
        ("https://github.com/owner/repo", "GitHub", OTHER),
        ("https://blog.example.org/post", "blog.example.org", OTHER),
    ],
)
def test_referrers_are_categorised_from_the_vendored_data(referrer, name, category):
    assert referrer_source(referrer, SITE) == referrers.Referrer(
        source=name, domain=referrer_source(referrer, SITE).domain, category=category
    )


def test_no_referrer_has_no_category():
    assert referrer_source("", SITE).category == ""


def test_a_stored_domain_is_named_as_ingest_names_it():
    assert referrers.referrer_for_domain("l.facebook.com") == referrer_source(
        "https://l.facebook.com/x", SITE
    )
    assert referrers.category_for_domain("") == ""
    assert referrers.category_for_domain("unknown.example") == OTHER


def test_overrides_win_over_the_vendored_lists():
    # Matomo lists YouTube as a social network and cnn.com as a Google custom search.
    assert referrers.classify_host("youtube.com") == ("YouTube", VIDEO)
    assert referrers.classify_host("cnn.com") == ("cnn.com", OTHER)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("google", ("Google", SEARCH)),
        ("Facebook", ("Facebook", SOCIAL)),
        ("fb", ("Facebook", SOCIAL)),
        ("chatgpt.com", ("ChatGPT", AI)),
        ("hackernews", ("Hacker News", SOCIAL)),
        ("amazon", ("Amazon", SHOPPING)),
        ("app", None),
        ("partner", None),
        ("", None),
    ],
)
def test_utm_source_spellings_are_recognised(value, expected):
    assert referrers.classify_source(value) == expected
