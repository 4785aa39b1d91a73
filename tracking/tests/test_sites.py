import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tracking.models import Membership, Site


def test_sites_list_requires_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_sites_list_empty_state_explains_what_to_do(client_as_owner):
    response = client_as_owner.get("/")
    assert response.status_code == 200
    assert b"No sites yet" in response.content
    assert b"Add your first site" in response.content


def test_sites_list_shows_only_my_sites(client_as_owner, site, other_site):
    response = client_as_owner.get("/")
    assert site.name.encode() in response.content
    assert other_site.name.encode() not in response.content


def test_create_site_redirects_to_its_dashboard(client_as_owner, owner):
    response = client_as_owner.post(
        "/sites/new/",
        {"name": "Shop", "domain": "https://www.Shop.Example.com/pricing", "timezone": "Europe/Berlin"},
    )
    site = Site.objects.get(name="Shop")
    assert response.status_code == 302
    assert response["Location"] == f"/sites/{site.public_id}/"
    assert site.domain == "shop.example.com"
    assert site.timezone == "Europe/Berlin"
    assert len(site.public_id) == 7 and site.public_id.isalnum() and site.public_id == site.public_id.lower()
    assert Membership.objects.get(site=site).user == owner


@pytest.mark.parametrize("domain", ["not a domain", "exa_mple.com", "-bad.com", "", "127.0.0.1"])
def test_create_site_rejects_invalid_domain(client_as_owner, domain):
    response = client_as_owner.post("/sites/new/", {"name": "X", "domain": domain, "timezone": "UTC"})
    assert response.status_code == 200
    assert not Site.objects.exists()
    assert b"has-error" in response.content


def test_an_ip_address_as_domain_is_refused_with_a_hint(client_as_owner):
    response = client_as_owner.post("/sites/new/", {"name": "X", "domain": "127.0.0.1", "timezone": "UTC"})
    assert "127.0.0.1 is an IP address" in response.content.decode()
    assert "use localhost" in response.content.decode()


def test_localhost_is_a_site_for_trying_the_snippet_and_its_tag_allows_local_pages(client_as_owner):
    response = client_as_owner.post(
        "/sites/new/", {"name": "Dev", "domain": "http://localhost:3000/", "timezone": "UTC"}
    )
    assert response.status_code == 302
    site = Site.objects.get()
    assert site.domain == "localhost"
    body = client_as_owner.get(f"/sites/{site.public_id}/settings/").content.decode()
    assert "&lt;script defer data-allow-local src=" in body


def test_create_site_rejects_unknown_timezone(client_as_owner):
    response = client_as_owner.post(
        "/sites/new/", {"name": "X", "domain": "x.com", "timezone": "Mars/Olympus"}
    )
    assert response.status_code == 200
    assert b"is not a time zone name" in response.content
    assert not Site.objects.exists()


def test_new_site_rejects_wrong_method(client_as_owner):
    assert client_as_owner.delete("/sites/new/").status_code == 405


def test_settings_shows_snippet(client_as_owner, site):
    response = client_as_owner.get(f"/sites/{site.public_id}/settings/")
    assert response.status_code == 200
    assert f"/hmbl.min.js?id={site.public_id}".encode() in response.content
    assert b"No page view received yet" in response.content


def test_settings_saves_changes(client_as_owner, site):
    response = client_as_owner.post(
        f"/sites/{site.public_id}/settings/",
        {"name": "Renamed", "domain": "example.net", "timezone": "Asia/Tokyo"},
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.name, site.domain, site.timezone) == ("Renamed", "example.net", "Asia/Tokyo")


def test_settings_bad_input_keeps_stored_values(client_as_owner, site):
    response = client_as_owner.post(
        f"/sites/{site.public_id}/settings/", {"name": "Renamed", "domain": "bad domain", "timezone": "UTC"}
    )
    assert response.status_code == 200
    site.refresh_from_db()
    assert site.name == "Example" and site.domain == "example.com"


def test_viewer_cannot_change_settings(client, site, other_user):
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    assert client.get(f"/sites/{site.public_id}/settings/").status_code == 200
    response = client.post(
        f"/sites/{site.public_id}/settings/", {"name": "Hijack", "domain": "x.com", "timezone": "UTC"}
    )
    assert response.status_code == 403
    site.refresh_from_db()
    assert site.name == "Example"


@pytest.mark.parametrize("suffix", ["", "settings/"])
def test_another_users_site_is_404(client, other_user, site, suffix):
    client.force_login(other_user)
    assert client.get(f"/sites/{site.public_id}/{suffix}").status_code == 404
    assert client.post(f"/sites/{site.public_id}/{suffix}", {"name": "x"}).status_code in (404, 405)


@pytest.mark.parametrize("suffix", ["", "settings/"])
def test_site_pages_require_login(client, site, suffix):
    response = client.get(f"/sites/{site.public_id}/{suffix}")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_sign_up_logs_in_and_asks_for_a_site(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "email": "n@example.com",
            "password1": "Tr1cky-pass-phrase",
            "password2": "Tr1cky-pass-phrase",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/sites/new/"
    assert client.get("/").status_code == 200


def test_login_and_logout(client, owner):
    response = client.post("/accounts/login/", {"username": "owner", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_create_site_command_prints_site_id_last(owner, capsys):
    call_command("create_site", "Blog.Example.org", owner="owner", name="Blog", timezone="America/New_York")
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    site = Site.objects.get(public_id=last_line)
    assert (site.name, site.domain, site.timezone) == ("Blog", "blog.example.org", "America/New_York")
    assert site.memberships.get().user == owner


def test_create_site_command_rejects_unknown_owner(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_site", "example.com", owner="ghost")


def test_create_site_command_rejects_bad_timezone(owner):
    with pytest.raises(CommandError, match="not a time zone"):
        call_command("create_site", "example.com", owner="owner", timezone="Nowhere")
    assert not Site.objects.exists()


def test_a_second_site_for_the_same_domain_is_refused_with_the_first_named(client_as_owner, site):
    response = client_as_owner.post(
        "/sites/new/", {"name": "Again", "domain": "https://www.Example.com/", "timezone": "UTC"}
    )
    assert response.status_code == 200
    assert "Your site “Example” already tracks example.com" in response.content.decode()
    assert Site.objects.count() == 1


def test_changing_a_domain_to_another_of_my_sites_is_refused_but_keeping_it_is_fine(
    client_as_owner, site, owner
):
    from tracking.sites import create_site

    shop = create_site(owner, name="Shop", domain="shop.test")
    url = f"/sites/{shop.public_id}/settings/"
    response = client_as_owner.post(url, {"name": "Shop", "domain": "example.com", "timezone": "UTC"})
    assert "already tracks example.com" in response.content.decode()
    response = client_as_owner.post(url, {"name": "Shop 2", "domain": "shop.test", "timezone": "UTC"})
    assert response.status_code == 302


def test_another_users_site_on_the_same_domain_is_neither_refused_nor_revealed(client, other_user, site):
    client.force_login(other_user)
    response = client.post("/sites/new/", {"name": "Mine", "domain": "example.com", "timezone": "UTC"})
    assert response.status_code == 302


def test_create_site_command_refuses_a_domain_the_owner_already_tracks(owner, other_user, capsys):
    call_command("create_site", "blog.example.org", owner="owner", name="Blog")
    with pytest.raises(CommandError, match=r"owner already tracks blog\.example\.org in the site 'Blog'"):
        call_command("create_site", "https://www.Blog.example.org/", owner="owner", name="Again")
    assert Site.objects.filter(domain="blog.example.org").count() == 1
    call_command("create_site", "blog.example.org", owner="other")  # another customer may
    assert Site.objects.filter(domain="blog.example.org").count() == 2
