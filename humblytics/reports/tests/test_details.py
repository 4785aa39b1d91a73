"""Details of one breakdown (every row, search, pages, CSV) and the dashboard's CSV export."""

import csv
import datetime as dt
import io

import pytest

from humblytics.reports.tests.test_dashboard import WEEK
from humblytics.reports.tests.test_widgets import build_shop
from tracking import sharing
from tracking.models import Session


@pytest.fixture
def shop(site):
    return build_shop(site)


def details(client, site, dimension, query=WEEK):
    return client.get(f"/sites/{site.public_id}/details/{dimension}/{query}")


def test_the_dashboard_links_each_breakdown_to_its_details_and_exports(client_as_owner, site, shop):
    html = client_as_owner.get(f"/sites/{site.public_id}/{WEEK}").content.decode()
    assert 'href="details/channel/?period=custom&amp;from=2025-03-01&amp;to=2025-03-07"' in html
    assert 'href="export.csv?period=custom&amp;from=2025-03-01&amp;to=2025-03-07"' in html


def test_details_list_every_row_and_search_them(client_as_owner, site, shop):
    html = details(client_as_owner, site, "country").content.decode()
    assert "Germany" in html and "France" in html
    found = details(client_as_owner, site, "country", WEEK + "&q=germ").content.decode()
    assert "Germany" in found and "France" not in found
    none = details(client_as_owner, site, "channel", WEEK + "&q=nothing-like-this").content.decode()
    assert "No channel matches" in none


def test_details_are_paged_fifty_rows_at_a_time(client_as_owner, site, shop):
    template = Session.objects.filter(
        site=site, started_at__gte=dt.datetime(2025, 3, 2, tzinfo=dt.UTC)
    ).first()
    for n in range(120):
        template.pk = None
        template.entry_page = f"/landing/{n:03d}"
        template.visitor_hash = f"{n:032x}"
        template.save()
    first = details(client_as_owner, site, "entry_page").content.decode()
    assert "Page 1 of 3" in first and first.split("<tbody>")[1].count("<tr>") == 50
    last = details(client_as_owner, site, "entry_page", WEEK + "&page=3").content.decode()
    assert "Page 3 of 3" in last
    assert details(client_as_owner, site, "entry_page", WEEK + "&page=zz").status_code == 200


def test_details_csv_has_every_matching_row(client_as_owner, site, shop):
    response = details(client_as_owner, site, "country", WEEK + "&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["dimension", "value", "label", "visitors"]
    assert {row[1]: row[2] for row in rows[1:]}["DE"] == "Germany"


def test_the_dashboard_csv_has_the_summary_and_every_breakdown(client_as_owner, site, shop):
    response = client_as_owner.get(f"/sites/{site.public_id}/export.csv{WEEK}")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    figures = {row[0]: row[1] for row in rows if len(row) == 2}
    assert figures["visitors"] == "4" and figures["from"] == "2025-03-01"
    dimensions = {row[0] for row in rows if len(row) > 2}
    assert {"Channel", "Exit page", "Country", "Page"} <= dimensions


def test_csv_cells_that_look_like_formulas_are_defused(client_as_owner, site, shop):
    Session.objects.filter(site=site).update(entry_page="=HYPERLINK(1)")
    body = details(client_as_owner, site, "entry_page", WEEK + "&format=csv").content.decode()
    assert "'=HYPERLINK(1)" in body and "\n=HYPERLINK" not in body.replace("'=", "")


def test_an_unknown_dimension_is_a_404(client_as_owner, site):
    assert details(client_as_owner, site, "nope").status_code == 404


def test_bad_period_is_a_notice_not_an_error(client_as_owner, site, shop):
    response = details(client_as_owner, site, "channel", "?period=forever")
    assert response.status_code == 200
    assert 'id="notices"' in response.content.decode()


def test_a_shared_link_has_details_and_export_of_its_site_only(
    client, site, owner, shop, other_site, other_user
):
    token = sharing.create_share_link(site, "Board", created_by=owner)[1]
    html = client.get(f"/share/{token}/details/country/{WEEK}").content.decode()
    assert "Germany" in html and site.public_id not in html
    assert client.get(f"/share/{token}/export.csv{WEEK}").status_code == 200
    other = sharing.create_share_link(other_site, "Theirs", created_by=other_user)[1]
    assert "Germany" not in client.get(f"/share/{other}/details/country/{WEEK}").content.decode()
    assert client.get(f"/share/{'x' * 32}/details/country/").status_code == 404
    assert client.get(f"/share/{'x' * 32}/export.csv").status_code == 404


@pytest.mark.parametrize("path", ["details/channel/", "export.csv"])
def test_another_users_site_is_a_404_and_nobody_is_sent_to_log_in(
    client, client_as_owner, other_site, site, path
):
    assert client_as_owner.get(f"/sites/{other_site.public_id}/{path}").status_code == 404
    assert client_as_owner.post(f"/sites/{site.public_id}/{path}").status_code == 405
    client_as_owner.logout()
    assert "/accounts/login/" in client.get(f"/sites/{site.public_id}/{path}")["Location"]
