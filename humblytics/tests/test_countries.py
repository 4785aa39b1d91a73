from django.template import Context, Template

from humblytics.lib.countries import country_name, flag
from humblytics.reports.tests.test_dashboard import WEEK
from humblytics.reports.tests.test_widgets import build_shop


def test_codes_become_names_from_the_dataset():
    assert country_name("DE") == "Germany"
    assert country_name("fr") == "France"
    assert country_name("TW") == "Taiwan"  # the common name where iso-codes has one
    assert country_name("XX") == "XX"
    assert country_name("") == ""


def test_flags_are_regional_indicator_pairs():
    assert flag("DE") == "\U0001f1e9\U0001f1ea"
    assert flag("") == "" and flag("1A") == "" and flag("DEU") == ""


def test_the_breakdown_shows_flag_and_name_but_keeps_the_code():
    rendered = Template("{% load humblytics_tags %}{{ 'DE'|dimension_value:'country' }}").render(Context())
    assert rendered == "\U0001f1e9\U0001f1ea Germany"
    assert (
        Template("{% load humblytics_tags %}{{ ''|dimension_value:'country' }}").render(Context()) == "(none)"
    )


def test_the_dashboard_names_countries_and_filters_by_code(client_as_owner, site):
    build_shop(site)
    html = client_as_owner.get(f"/sites/{site.public_id}/{WEEK}").content.decode()
    assert "\U0001f1e9\U0001f1ea Germany</a>" in html
    assert "filter=country%3ADE" in html
    filtered = client_as_owner.get(f"/sites/{site.public_id}/{WEEK}&filter=country:DE").content.decode()
    assert "Country is <strong>\U0001f1e9\U0001f1ea Germany</strong>" in filtered
