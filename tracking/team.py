"""Who belongs to a site: invitations by user name or e-mail, roles, removal.

One rule above all: a site always keeps at least one owner, so nobody can lock everyone out of it.
"""

import dataclasses
import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from tracking.models import Invitation, Membership, Site


class TeamError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class Added:
    membership: Membership


@dataclasses.dataclass(frozen=True)
class Invited:
    invitation: Invitation
    token: str  # shown once, in the e-mailed link; only its hash is stored


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _find_user(who: str):
    users = get_user_model().objects
    by_name = users.filter(username__iexact=who, is_active=True).first()
    if by_name is not None or "@" not in who:
        return by_name
    # Several accounts may share an address (Django allows it): only a unique one is picked.
    matches = list(users.filter(email__iexact=who, is_active=True)[:2])
    return matches[0] if len(matches) == 1 else None


def invite(site: Site, who: str, role: str, *, invited_by, now: dt.datetime) -> Added | Invited:
    """Add an existing user (by user name or e-mail) at once; otherwise invite the e-mail address."""
    who = who.strip()
    if role not in Membership.Role.values:
        raise TeamError("Choose a role: owner or viewer.")
    user = _find_user(who)
    if user is not None:
        try:
            with transaction.atomic():
                return Added(Membership.objects.create(user=user, site=site, role=role))
        except IntegrityError:
            raise TeamError(f"{user.get_username()} is already a member of {site.name}.") from None
    if "@" not in who:
        raise TeamError(
            f"There is no user named “{who}”. To invite someone without an account, enter their e-mail."
        )
    try:
        validate_email(who)
    except ValidationError:
        raise TeamError(f"“{who}” is not an e-mail address.") from None
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        site=site,
        email=who,
        role=role,
        token_hash=token_hash(token),
        invited_by=invited_by if getattr(invited_by, "pk", None) else None,
        expires_at=now + dt.timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    return Invited(invitation, token)


def send_invitation(invited: Invited, link: str) -> None:
    """E-mail the link (console backend unless EMAIL_URL or EMAIL_HOST is set)."""
    row = invited.invitation
    inviter = row.invited_by.get_username() if row.invited_by else "An owner"
    send_mail(
        f"{inviter} invited you to {row.site.name} on Humblytics",
        f"{inviter} invited you to see the analytics of {row.site.name} ({row.site.domain}) as "
        f"{row.get_role_display().lower()}.\n\nAccept here (sign up or log in first; the link works once, "
        f"until {row.expires_at:%Y-%m-%d}):\n{link}\n",
        None,
        [row.email],
    )


def open_invitation(token: str, now: dt.datetime) -> Invitation | None:
    if not token:
        return None
    row = Invitation.objects.select_related("site").filter(token_hash=token_hash(token)).first()
    return row if row is not None and row.is_open(now) else None


def accept_invitation(token: str, user, now: dt.datetime) -> Membership:
    """Make ``user`` a member with the invitation's role; the link then stops working."""
    with transaction.atomic():
        row = Invitation.objects.select_for_update().filter(token_hash=token_hash(token)).first()
        if row is None or not row.is_open(now):
            raise TeamError("This invitation was used already, revoked or has expired. Ask for a new one.")
        membership, created = Membership.objects.get_or_create(
            user=user, site=row.site, defaults={"role": row.role}
        )
        if not created and row.role == Membership.Role.OWNER and not membership.is_owner:
            membership.role = Membership.Role.OWNER
            membership.save(update_fields=["role"])
        row.mark_accepted(now)
        return membership


def _other_owners(site: Site, membership: Membership) -> bool:
    return site.memberships.filter(role=Membership.Role.OWNER).exclude(pk=membership.pk).exists()


def remove_member(site: Site, membership: Membership) -> None:
    with transaction.atomic():
        Site.objects.select_for_update().filter(pk=site.pk).first()  # one change of owners at a time
        if membership.is_owner and not _other_owners(site, membership):
            raise TeamError("The last owner cannot be removed: make someone else an owner first.")
        membership.delete()


def change_role(site: Site, membership: Membership, role: str) -> None:
    if role not in Membership.Role.values:
        raise TeamError("Choose a role: owner or viewer.")
    with transaction.atomic():
        Site.objects.select_for_update().filter(pk=site.pk).first()
        if membership.is_owner and role != Membership.Role.OWNER and not _other_owners(site, membership):
            raise TeamError("The last owner cannot become a viewer: make someone else an owner first.")
        membership.role = role
        membership.save(update_fields=["role"])


def revoke_invitation(invitation: Invitation) -> None:
    invitation.delete()


def members(site: Site) -> list[Membership]:
    return list(site.memberships.select_related("user").order_by("role", "user__username"))


def pending_invitations(site: Site, now: dt.datetime) -> list[Invitation]:
    return list(site.invitations.filter(accepted_at__isnull=True, expires_at__gt=now))
