import pytest

from tracking.channels import (
    AFFILIATES,
    AI_ASSISTANTS,
    CHANNELS,
    CROSS_NETWORK,
    DIRECT,
    DISPLAY,
    EMAIL,
    MOBILE_PUSH,
    ORGANIC_SEARCH,
    ORGANIC_SHOPPING,
    ORGANIC_SOCIAL,
    ORGANIC_VIDEO,
    PAID_OTHER,
    PAID_SEARCH,
    PAID_SHOPPING,
    PAID_SOCIAL,
    PAID_VIDEO,
    REFERRAL,
    SMS,
    UNASSIGNED,
    Utm,
    channel,
    click_ids_from_url,
    utm_from_url,
)
from tracking.referrers import referrer_source

SITE = "example.com"


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


def test_channels_are_ga4s_default_group_plus_ai_assistants():
    assert set(CHANNELS) == {
        "Direct",
        "Organic Search",
        "Paid Search",
        "Organic Social",
        "Paid Social",
        "Email",
        "AI Assistants",
        "Affiliates",
        "Referral",
        "Display",
        "Organic Video",
        "Paid Video",
        "Cross-network",
        "Organic Shopping",
        "Paid Shopping",
        "Paid Other",
        "Audio",
        "SMS",
        "Mobile Push Notifications",
        "Unassigned",
    }
    assert max(map(len, CHANNELS)) <= 32  # Session.channel


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
        # AOL, Ask, Sogou, Daum are search engines; Yahoo News is not.
        ("AOL", "search.aol.com", Utm(), (), ORGANIC_SEARCH),
        ("Ask", "ask.com", Utm(), (), ORGANIC_SEARCH),
        ("Sogou", "sogou.com", Utm(), (), ORGANIC_SEARCH),
        ("Daum", "search.daum.net", Utm(), (), ORGANIC_SEARCH),
        ("news.yahoo.com", "news.yahoo.com", Utm(), (), REFERRAL),
        # Paid: by the source's category (GA4: paid medium ^(.*cp.*|ppc|retargeting|paid.*)$).
        ("Google", "google.com", Utm(medium="cpc"), (), PAID_SEARCH),
        ("", "", Utm(source="google", medium="cpc"), (), PAID_SEARCH),
        ("", "", Utm(source="bing", medium="PPC"), (), PAID_SEARCH),
        ("", "", Utm(source="facebook", medium="cpc"), (), PAID_SOCIAL),
        ("", "", Utm(source="linkedin", medium="paid"), (), PAID_SOCIAL),
        ("", "", Utm(source="x", medium="cpm"), (), PAID_SOCIAL),
        ("Facebook", "l.facebook.com", Utm(medium="paid-ads"), (), PAID_SOCIAL),
        ("", "", Utm(source="partner", medium="paid_social"), (), PAID_SOCIAL),
        ("", "", Utm(source="youtube", medium="cpv"), (), PAID_VIDEO),
        ("", "", Utm(source="amazon", medium="cpc"), (), PAID_SHOPPING),
        ("", "", Utm(source="google", medium="cpc", campaign="shopping_q4"), (), PAID_SHOPPING),
        ("", "", Utm(source="google", medium="cpc", campaign="pmax cross-network"), (), CROSS_NETWORK),
        ("", "", Utm(source="partner", medium="retargeting"), (), PAID_OTHER),
        # Display networks (GA4): cpm and the display mediums are Display, cpc elsewhere Paid Other.
        ("", "", Utm(source="taboola", medium="cpm"), (), DISPLAY),
        ("", "", Utm(source="outbrain", medium="cpm"), (), DISPLAY),
        ("", "", Utm(source="taboola", medium="cpc"), (), PAID_OTHER),
        ("", "", Utm(source="outbrain", medium="cpc"), (), PAID_OTHER),
        ("", "", Utm(source="criteo", medium="display"), (), DISPLAY),
        ("", "", Utm(source="adroll", medium="banner"), (), DISPLAY),
        # Click ids: each platform's channel; fbclid is on every Facebook link and means nothing.
        ("", "", Utm(), ("gclid",), PAID_SEARCH),
        ("Google", "google.com", Utm(), ("gbraid",), PAID_SEARCH),
        ("Bing", "bing.com", Utm(), ("msclkid",), PAID_SEARCH),
        ("", "", Utm(), ("dclid",), DISPLAY),
        ("TikTok", "tiktok.com", Utm(), ("ttclid",), PAID_SOCIAL),
        ("Facebook", "l.facebook.com", Utm(), ("fbclid",), ORGANIC_SOCIAL),
        ("", "", Utm(), ("fbclid",), DIRECT),
        # Email by medium, by source, and by webmail referrer.
        ("", "", Utm(source="newsletter", medium="email"), (), EMAIL),
        ("", "", Utm(source="acme", medium="E-mail"), (), EMAIL),
        ("", "", Utm(source="acme", medium="newsletter"), (), EMAIL),
        ("", "", Utm(source="newsletter", medium="email_newsletter"), (), EMAIL),
        ("", "", Utm(source="newsletter"), (), EMAIL),
        ("Gmail", "mail.google.com", Utm(), (), EMAIL),
        ("Outlook", "outlook.live.com", Utm(), (), EMAIL),
        ("GMX", "deref-gmx.net", Utm(), (), EMAIL),
        ("mail01.orange.fr", "mail01.orange.fr", Utm(), (), EMAIL),
        ("Gmail", "com.google.android.gm", Utm(), (), EMAIL),
        # Social by medium and by source.
        ("", "", Utm(source="mastodon", medium="social"), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="forum", medium="sm"), (), ORGANIC_SOCIAL),
        ("Twitter", "t.co", Utm(), (), ORGANIC_SOCIAL),
        ("Hacker News", "news.ycombinator.com", Utm(), (), ORGANIC_SOCIAL),
        ("Reddit", "old.reddit.com", Utm(), (), ORGANIC_SOCIAL),
        ("VK", "vk.com", Utm(), (), ORGANIC_SOCIAL),
        ("Weibo", "weibo.com", Utm(), (), ORGANIC_SOCIAL),
        ("Quora", "quora.com", Utm(), (), ORGANIC_SOCIAL),
        ("Tumblr", "x.tumblr.com", Utm(), (), ORGANIC_SOCIAL),
        ("Snapchat", "snapchat.com", Utm(), (), ORGANIC_SOCIAL),
        ("WhatsApp", "web.whatsapp.com", Utm(), (), ORGANIC_SOCIAL),
        ("Mastodon", "mastodon.social", Utm(), (), ORGANIC_SOCIAL),
        ("LINE", "line.me", Utm(), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="twitter"), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="x.com"), (), ORGANIC_SOCIAL),
        ("", "", Utm(source="producthunt"), (), ORGANIC_SOCIAL),
        # A known utm_source wins over the referrer.
        ("Google", "google.com", Utm(source="twitter"), (), ORGANIC_SOCIAL),
        # Video and shopping sites.
        ("YouTube", "youtube.com", Utm(), (), ORGANIC_VIDEO),
        ("", "", Utm(source="partner", medium="video"), (), ORGANIC_VIDEO),
        ("Amazon", "amazon.de", Utm(), (), ORGANIC_SHOPPING),
        # AI assistants, each by name (ChatGPT tags its links utm_source=chatgpt.com).
        ("ChatGPT", "chatgpt.com", Utm(), (), AI_ASSISTANTS),
        ("", "", Utm(source="chatgpt.com"), (), AI_ASSISTANTS),
        ("Perplexity", "perplexity.ai", Utm(), (), AI_ASSISTANTS),
        ("Claude", "claude.ai", Utm(), (), AI_ASSISTANTS),
        ("Gemini", "gemini.google.com", Utm(), (), AI_ASSISTANTS),
        ("Copilot", "copilot.microsoft.com", Utm(), (), AI_ASSISTANTS),
        # The rest of GA4's tagged channels.
        ("", "", Utm(source="partner", medium="affiliate"), (), AFFILIATES),
        ("", "", Utm(source="sms"), (), SMS),
        ("", "", Utm(source="app", medium="push"), (), MOBILE_PUSH),
        ("", "", Utm(source="partner", medium="referral"), (), REFERRAL),
        # An untagged referrer is Referral; a tag GA4 cannot place is Unassigned.
        ("blog.example.org", "blog.example.org", Utm(), (), REFERRAL),
        ("GitHub", "github.com", Utm(), (), REFERRAL),
        ("", "", Utm(source="partner"), (), UNASSIGNED),
        ("", "", Utm(campaign="launch"), (), UNASSIGNED),
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
