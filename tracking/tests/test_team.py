import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from tracking import team
from tracking.models import Invitation, Membership


@pytest.fixture
def viewer(site):
    user = get_user_model().objects.create_user("viewer", "viewer@example.com", "correct-horse-battery")
    Membership.objects.create(user=user, site=site, role=Membership.Role.VIEWER)
    return user


def _team_url(site, suffix=""):
    return f"/sites/{site.public_id}/settings/team/{suffix}"


def _invite_link(message) -> str:
    return re.search(r"http://testserver(/invite/[^/\s]+/)", message.body).group(1)


def test_team_page_lists_members(client_as_owner, site, viewer):
    body = client_as_owner.get(_team_url(site)).content.decode()
    assert "owner" in body and "viewer" in body
    assert "Invite someone" in body


def test_existing_user_is_added_by_user_name(client_as_owner, site, other_user):
    response = client_as_owner.post(_team_url(site), {"who": "other", "role": "viewer"})
    assert response.status_code == 302
    assert Membership.objects.get(site=site, user=other_user).role == "viewer"
    assert mail.outbox == []


def test_existing_user_is_added_by_email(client_as_owner, site, other_user):
    client_as_owner.post(_team_url(site), {"who": "Other@Example.com", "role": "owner"})
    assert Membership.objects.get(site=site, user=other_user).role == "owner"


def test_unknown_user_name_is_explained(client_as_owner, site):
    response = client_as_owner.post(_team_url(site), {"who": "ghost", "role": "viewer"})
    assert response.status_code == 400
    assert "There is no user named" in response.content.decode()


def test_a_member_twice_is_refused_plainly(client_as_owner, site, viewer):
    response = client_as_owner.post(_team_url(site), {"who": "viewer", "role": "owner"})
    assert response.status_code == 400
    assert "already a member" in response.content.decode()


def test_bad_role_is_a_form_error(client_as_owner, site):
    assert client_as_owner.post(_team_url(site), {"who": "x@example.com", "role": "admin"}).status_code == 400


def test_unknown_email_gets_a_link_accepted_after_sign_up(client_as_owner, client, site):
    client_as_owner.post(_team_url(site), {"who": "new@example.com", "role": "viewer"})
    invitation = Invitation.objects.get(site=site)
    assert invitation.email == "new@example.com" and len(invitation.token_hash) == 64
    link = _invite_link(mail.outbox[0])
    assert link.split("/")[2] not in invitation.token_hash  # only the hash is stored
    client_as_owner.logout()
    page = client.get(link)
    assert "Join Example" in page.content.decode()
    assert f"/accounts/signup/?next={link}" in page.content.decode()
    signed_up = client.post(
        f"/accounts/signup/?next={link}",
        {
            "username": "newbie",
            "password1": "Tr1cky-pass-phrase",
            "password2": "Tr1cky-pass-phrase",
            "next": link,
        },
    )
    assert signed_up["Location"] == link
    accepted = client.post(link)
    assert accepted["Location"] == f"/sites/{site.public_id}/"
    assert Membership.objects.get(site=site, user__username="newbie").role == "viewer"
    assert client.get(f"/sites/{site.public_id}/").status_code == 200
    assert client.post(link).status_code == 404  # works once


def test_expired_invitation_does_not_work(site, other_user):
    now = timezone.now()
    invited = team.invite(site, "late@example.com", "viewer", invited_by=None, now=now)
    with pytest.raises(team.TeamError, match="expired"):
        team.accept_invitation(invited.token, other_user, now + dt.timedelta(days=8))
    assert not Membership.objects.filter(user=other_user, site=site).exists()


def test_revoked_invitation_is_a_404(client_as_owner, client, site):
    client_as_owner.post(_team_url(site), {"who": "new@example.com", "role": "viewer"})
    link = _invite_link(mail.outbox[0])
    invitation = Invitation.objects.get(site=site)
    client_as_owner.post(_team_url(site) + f"invitations/{invitation.pk}/revoke/")
    assert client.get(link).status_code == 404


def test_owner_changes_a_role(client_as_owner, site, viewer):
    row = Membership.objects.get(user=viewer)
    client_as_owner.post(_team_url(site) + f"{row.pk}/role/", {"role": "owner"})
    row.refresh_from_db()
    assert row.is_owner


def test_removing_a_member_asks_first(client_as_owner, site, viewer):
    row = Membership.objects.get(user=viewer)
    question = client_as_owner.post(_team_url(site) + f"{row.pk}/remove/")
    assert "Remove viewer from Example?" in question.content.decode()
    assert Membership.objects.filter(pk=row.pk).exists()
    client_as_owner.post(_team_url(site) + f"{row.pk}/remove/", {"confirmed": "yes"})
    assert not Membership.objects.filter(pk=row.pk).exists()


def test_last_owner_can_be_neither_removed_nor_demoted(client_as_owner, site, owner):
    row = Membership.objects.get(user=owner, site=site)
    response = client_as_owner.post(_team_url(site) + f"{row.pk}/remove/", {"confirmed": "yes"}, follow=True)
    assert "The last owner cannot be removed" in response.content.decode()
    response = client_as_owner.post(_team_url(site) + f"{row.pk}/role/", {"role": "viewer"}, follow=True)
    assert "The last owner cannot become a viewer" in response.content.decode()
    row.refresh_from_db()
    assert row.is_owner


def test_a_viewer_sees_the_team_but_cannot_invite_or_change_it(client, site, viewer, owner):
    client.force_login(viewer)
    body = client.get(_team_url(site)).content.decode()
    assert "Invite someone" not in body and "owner@example.com" not in body
    assert client.post(_team_url(site), {"who": "x@example.com", "role": "owner"}).status_code == 403
    owner_row = Membership.objects.get(user=owner)
    assert client.post(_team_url(site) + f"{owner_row.pk}/remove/", {"confirmed": "yes"}).status_code == 403
    viewer_row = Membership.objects.get(user=viewer)
    assert client.post(_team_url(site) + f"{viewer_row.pk}/role/", {"role": "owner"}).status_code == 403
    assert not Invitation.objects.exists()
    viewer_row.refresh_from_db()
    assert not viewer_row.is_owner


@pytest.mark.parametrize("suffix", ["", "1/remove/", "1/role/", "invitations/1/revoke/"])
def test_another_users_site_is_a_404(client_as_owner, other_site, suffix):
    assert (
        client_as_owner.post(_team_url(other_site, suffix), {"who": "owner", "role": "owner"}).status_code
        == 404
    )


def test_a_membership_of_another_site_is_a_404(client_as_owner, site, other_site):
    foreign = Membership.objects.get(site=other_site)
    assert (
        client_as_owner.post(_team_url(site) + f"{foreign.pk}/remove/", {"confirmed": "yes"}).status_code
        == 404
    )
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_team_page_requires_login_and_allows_only_get_and_post(client, client_as_owner, site):
    assert client_as_owner.put(_team_url(site)).status_code == 405
    client_as_owner.logout()
    assert "/accounts/login/" in client.get(_team_url(site))["Location"]


def test_an_invitation_lets_its_holder_sign_up_when_sign_up_is_closed(
    client_as_owner, client, site, settings
):
    settings.SIGNUP_OPEN = False
    client_as_owner.post(_team_url(site), {"who": "new@example.com", "role": "viewer"})
    link = _invite_link(mail.outbox[0])
    client_as_owner.logout()
    assert "Sign-up is closed" in client.get("/accounts/signup/").content.decode()
    assert (
        "Sign-up is closed" in client.get("/accounts/signup/?next=/invite/" + "x" * 43 + "/").content.decode()
    )
    assert "Sign-up is closed" in client.get("/accounts/signup/?next=/sites/new/").content.decode()
    form = client.get(f"/accounts/signup/?next={link}")
    assert 'name="password1"' in form.content.decode()
    body = {
        "username": "newbie",
        "password1": "Tr1cky-pass-phrase",
        "password2": "Tr1cky-pass-phrase",
        "next": link,
    }
    assert client.post(f"/accounts/signup/?next={link}", body)["Location"] == link
    client.post(link)
    assert Membership.objects.get(site=site, user__username="newbie").role == "viewer"
    client.logout()
    again = {**body, "username": "second"}
    assert client.post(f"/accounts/signup/?next={link}", again).status_code == 403  # the link was used
