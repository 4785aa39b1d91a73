from django.urls import path

from tracking import goal_views, sharing_views, team_views, views

app_name = "tracking"

urlpatterns = [
    path("", views.list_sites, name="sites"),
    path("sites/new/", views.new_site, name="new_site"),
    path("sites/<str:site_id>/settings/", views.site_settings, name="settings"),
    path("sites/<str:site_id>/settings/delete/", views.delete_site, name="delete_site"),
    path("sites/<str:site_id>/settings/api/", views.api_keys, name="api_keys"),
    path(
        "sites/<str:site_id>/settings/api/<int:key_id>/revoke/", views.revoke_api_key, name="revoke_api_key"
    ),
    path("sites/<str:site_id>/settings/team/", team_views.team_settings, name="team"),
    path(
        "sites/<str:site_id>/settings/team/<int:membership_id>/remove/",
        team_views.remove_member,
        name="remove_member",
    ),
    path(
        "sites/<str:site_id>/settings/team/<int:membership_id>/role/",
        team_views.change_role,
        name="change_role",
    ),
    path(
        "sites/<str:site_id>/settings/team/invitations/<int:invitation_id>/revoke/",
        team_views.revoke_invitation,
        name="revoke_invitation",
    ),
    path("sites/<str:site_id>/settings/sharing/", sharing_views.share_links, name="share_links"),
    path(
        "sites/<str:site_id>/settings/sharing/<int:link_id>/revoke/",
        sharing_views.revoke_share_link,
        name="revoke_share_link",
    ),
    path("sites/<str:site_id>/settings/goals/", goal_views.goal_settings, name="goals"),
    path("sites/<str:site_id>/settings/goals/new/", goal_views.edit_goal, name="new_goal"),
    path("sites/<str:site_id>/settings/goals/<int:goal_id>/edit/", goal_views.edit_goal, name="edit_goal"),
    path(
        "sites/<str:site_id>/settings/goals/<int:goal_id>/delete/", goal_views.delete_goal, name="delete_goal"
    ),
    path("sites/<str:site_id>/settings/goals/funnels/new/", goal_views.edit_funnel, name="new_funnel"),
    path(
        "sites/<str:site_id>/settings/goals/funnels/<int:funnel_id>/edit/",
        goal_views.edit_funnel,
        name="edit_funnel",
    ),
    path(
        "sites/<str:site_id>/settings/goals/funnels/<int:funnel_id>/delete/",
        goal_views.delete_funnel,
        name="delete_funnel",
    ),
    path("invite/<str:token>/", team_views.accept_invitation, name="accept_invitation"),
]
