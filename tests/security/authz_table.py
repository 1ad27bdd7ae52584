"""The authorisation policy as a table: every route of the app x every kind of caller -> the expected status.

Keyed by (method, path template) exactly as `app.routes` names them; test_authz_matrix.py fails on a route
that is missing here (add it with the policy it should follow) and on an entry whose route is gone.

Callers, against alice's workspace and her workspace-visible board "Plans" (see authz_world.py):
  owner     alice, owner of the workspace and creator of the board
  admin     workspace admin (board admin through the workspace)
  member    workspace member (board editor through the workspace)
  guest     workspace guest, not on the board
  viewer    added to the board as viewer only (a workspace guest with a board role)
  outsider  signed in, in another workspace
  anonymous no credentials
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("owner", "admin", "member", "guest", "viewer", "outsider", "anonymous")
OK = "2xx"  # any success status the route documents


class Kind(dict[str, Any]):
    """role -> expected status; calling it gives a copy with some cells changed."""

    def __call__(self, **cells: Any) -> Kind:
        assert set(cells) <= set(ROLES), cells
        return Kind({**self, **cells})


def _kind(owner: Any, admin: Any, member: Any, guest: Any, viewer: Any, outsider: Any, anonymous: Any = 401) -> Kind:
    return Kind(zip(ROLES, (owner, admin, member, guest, viewer, outsider, anonymous), strict=True))


# outsiders get 404, never 403: a resource the caller may not see does not exist for them
PUBLIC = _kind(OK, OK, OK, OK, OK, OK, OK)
SIGNED_IN = _kind(OK, OK, OK, OK, OK, OK)  # acts on the caller's own things
WS_READ = _kind(OK, OK, OK, OK, OK, 404)
WS_CREATE = _kind(OK, OK, OK, 403, 403, 404)  # board.create: member and up
WS_ADMIN = _kind(OK, OK, 403, 403, 403, 404)
WS_OWNER = _kind(OK, 403, 403, 403, 403, 404)
BOARD_READ = _kind(OK, OK, OK, 404, OK, 404)
BOARD_WRITE = _kind(OK, OK, OK, 404, 403, 404)  # editor and up (commenters may comment only)
BOARD_ADMIN = _kind(OK, OK, 403, 404, 403, 404)
AUTHOR_EDIT = _kind(OK, 403, 403, 404, 403, 404)  # alice's comment: only its author edits it
AUTHOR_DELETE = _kind(OK, OK, 403, 404, 403, 404)  # ...and board admins may delete it


@dataclass(frozen=True)
class Entry:
    """What a route expects from each caller, and how to call it."""

    expect: dict[str, Any]
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)  # overrides of path parameters ({name: world key})
    body: str | None = None  # a raw body: "trello" or "orbitask" (an export file) or "file" (multipart upload)
    note: str = ""


A = "/api/v1"
TABLE: dict[tuple[str, str], Entry] = {
    # --- operations -------------------------------------------------------------------------------
    ("GET", "/healthz"): Entry(PUBLIC),
    ("GET", "/readyz"): Entry(PUBLIC),
    ("GET", f"{A}/healthz"): Entry(PUBLIC),
    ("GET", f"{A}/readyz"): Entry(PUBLIC),
    ("GET", "/metrics"): Entry(PUBLIC, note="scraped from the private network; see docs/security.md"),
    # --- auth: the caller's own session and tokens ------------------------------------------------
    ("POST", f"{A}/auth/register"): Entry(PUBLIC, json={"email": "{fresh_email}", "password": "long enough pw",
                                                        "name": "New"}),
    ("POST", f"{A}/auth/verify"): Entry(_kind(410, 410, 410, 410, 410, 410, 410), json={"token": "x" * 43},
                                        note="a sign-up link: nobody's session matters, an unknown link is gone"),
    ("POST", f"{A}/auth/login"): Entry(PUBLIC, json={"email": "{alice_email}", "password": "{password}"}),
    ("POST", f"{A}/auth/refresh"): Entry(PUBLIC, json={"refresh_token": "{alice_refresh}"}),
    ("POST", f"{A}/auth/logout"): Entry(PUBLIC, json={"refresh_token": "{alice_refresh}"}, note="idempotent"),
    ("GET", f"{A}/me"): Entry(SIGNED_IN),
    ("POST", f"{A}/me/api-tokens"): Entry(SIGNED_IN, json={"name": "ci"}),
    ("GET", f"{A}/me/api-tokens"): Entry(SIGNED_IN),
    ("DELETE", f"{A}/me/api-tokens/{{token_id}}"): Entry(
        SIGNED_IN(admin=404, member=404, guest=404, viewer=404, outsider=404), note="alice's token"),
    ("GET", f"{A}/me/tasks"): Entry(SIGNED_IN),
    ("GET", f"{A}/search"): Entry(BOARD_READ, params={"q": "launch", "board_id": "{board_id}"},
                                  note="searches every readable board; naming one the caller cannot read is a 404"),
    ("POST", f"{A}/me/calendar-feed"): Entry(SIGNED_IN),
    ("GET", f"{A}/me/calendar-feed"): Entry(SIGNED_IN),
    ("DELETE", f"{A}/me/calendar-feed"): Entry(SIGNED_IN(admin=404, member=404, guest=404, viewer=404, outsider=404),
                                               note="only alice has a feed"),
    ("GET", f"{A}/calendar/{{token}}.ics"): Entry(PUBLIC, path={"token": "calendar_token"},
                                                  note="the secret in the URL is the credential"),
    ("POST", f"{A}/ws/tickets"): Entry(SIGNED_IN),
    ("PATCH", f"{A}/me"): Entry(SIGNED_IN, json={"time_zone": "Europe/Paris"}),
    ("GET", f"{A}/instance"): Entry(PUBLIC, note="the sign-up policy, for the sign-in page"),
    ("GET", f"{A}/auth/sessions"): Entry(SIGNED_IN),
    ("DELETE", f"{A}/auth/sessions/{{session_id}}"): Entry(
        _kind(404, 404, 404, 404, 404, 404), path={"session_id": "missing_id"},
        note="only one's own sessions exist: any other id is not found"),
    ("POST", f"{A}/auth/sessions/revoke-others"): Entry(SIGNED_IN),
    ("POST", f"{A}/auth/password"): Entry(
        _kind(403, 403, 403, 403, 403, 403), json={"current_password": "not the password", "new_password": "x" * 12},
        note="the current password is asked first (a wrong one is 403 for everyone)"),
    ("POST", f"{A}/auth/password-reset"): Entry(
        _kind(409, 409, 409, 409, 409, 409, 409), json={"email": "{alice_email}"},
        note="anyone may ask; without e-mail configured there is nothing to send: 409 for everyone"),
    ("POST", f"{A}/auth/password-reset/confirm"): Entry(
        _kind(400, 400, 400, 400, 400, 400, 400), json={"token": "x" * 43, "password": "long enough pw"},
        note="the e-mailed link is the credential: a forged one is invalid for everyone"),
    ("POST", f"{A}/auth/email"): Entry(
        _kind(409, 409, 409, 409, 409, 409), json={"new_email": "{fresh_email}", "current_password": "{password}"},
        note="without e-mail configured no confirmation can be sent: 409"),
    ("POST", f"{A}/auth/email/confirm"): Entry(
        _kind(400, 400, 400, 400, 400, 400, 400), json={"token": "x" * 43},
        note="the e-mailed link is the credential: a forged one is invalid for everyone"),
    ("POST", f"{A}/auth/email/verification"): Entry(
        _kind(409, 409, 409, 409, 409, 409), note="without e-mail configured no link can be sent: 409"),
    # --- notifications: the caller's own; watching needs sight of the board -----------------------
    ("GET", f"{A}/notifications"): Entry(SIGNED_IN),
    ("GET", f"{A}/notifications/unread-count"): Entry(SIGNED_IN),
    ("POST", f"{A}/notifications/read"): Entry(SIGNED_IN, json={"all": True}),
    ("GET", f"{A}/notifications/preferences"): Entry(SIGNED_IN),
    ("PATCH", f"{A}/notifications/preferences"): Entry(SIGNED_IN, json={"email_digest": "daily"}),
    ("GET", f"{A}/notifications/unsubscribe"): Entry(
        PUBLIC, params={"token": "forged"},
        note="the signed token in the e-mail's link is the credential: a forged one gets the 'Link not valid' page "
             "for everyone and changes nothing (tests/notifications)"),
    ("POST", f"{A}/notifications/unsubscribe"): Entry(
        _kind(404, 404, 404, 404, 404, 404, 404), params={"token": "forged"},
        note="the one-click POST mail clients send: a forged token is 'not found' for everyone"),
    ("GET", f"{A}/boards/{{board_id}}/watch"): Entry(BOARD_READ),
    ("PUT", f"{A}/boards/{{board_id}}/watch"): Entry(BOARD_READ),
    ("DELETE", f"{A}/boards/{{board_id}}/watch"): Entry(BOARD_READ),
    ("PUT", f"{A}/cards/{{card_id}}/watch"): Entry(BOARD_READ),
    ("DELETE", f"{A}/cards/{{card_id}}/watch"): Entry(BOARD_READ),
    # --- webhooks: workspace admins ---------------------------------------------------------------
    ("GET", f"{A}/workspaces/{{workspace_id}}/webhooks"): Entry(WS_ADMIN),
    ("POST", f"{A}/workspaces/{{workspace_id}}/webhooks"): Entry(WS_ADMIN, json={"url": "http://93.184.216.34/h"}),
    ("GET", f"{A}/webhooks/{{webhook_id}}"): Entry(WS_ADMIN),
    ("PATCH", f"{A}/webhooks/{{webhook_id}}"): Entry(WS_ADMIN, json={"description": "x"}),
    ("GET", f"{A}/webhooks/{{webhook_id}}/deliveries"): Entry(WS_ADMIN),
    ("POST", f"{A}/webhooks/{{webhook_id}}/deliveries/{{delivery_id}}/redeliver"): Entry(
        WS_ADMIN(owner=404, admin=404), path={"delivery_id": "missing_id"}, note="no such delivery"),
    ("DELETE", f"{A}/webhooks/{{webhook_id}}"): Entry(WS_ADMIN),
    ("POST", f"{A}/invitations/{{token}}/accept"): Entry(
        SIGNED_IN, path={"token": "invitation_token"},
        note="anyone holding the link may join (that is what it is for); accepting again is idempotent"),
    ("GET", f"{A}/invitations/{{token}}"): Entry(
        PUBLIC, path={"token": "invitation_token"},
        note="the sign-in page's preview for whoever holds the link: workspace and inviter names only"),
    # --- workspaces -------------------------------------------------------------------------------
    ("POST", f"{A}/workspaces"): Entry(SIGNED_IN, json={"name": "Another"}),
    ("GET", f"{A}/workspaces"): Entry(SIGNED_IN),
    ("GET", f"{A}/workspaces/{{workspace_id}}"): Entry(WS_READ),
    ("PATCH", f"{A}/workspaces/{{workspace_id}}"): Entry(WS_ADMIN, json={"name": "Renamed"}),
    ("DELETE", f"{A}/workspaces/{{workspace_id}}"): Entry(WS_OWNER),
    ("GET", f"{A}/workspaces/{{workspace_id}}/members"): Entry(WS_READ),
    ("PATCH", f"{A}/workspaces/{{workspace_id}}/members/{{user_id}}"): Entry(
        WS_ADMIN, json={"role": "guest"}, path={"user_id": "member_id"}),
    ("DELETE", f"{A}/workspaces/{{workspace_id}}/members/{{user_id}}"): Entry(
        WS_ADMIN(member=OK), path={"user_id": "member_id"}, note="the member themself may leave"),
    ("POST", f"{A}/workspaces/{{workspace_id}}/invitations"): Entry(WS_ADMIN, json={"role": "member"}),
    ("GET", f"{A}/workspaces/{{workspace_id}}/audit"): Entry(WS_ADMIN),
    ("POST", f"{A}/workspaces/{{workspace_id}}/boards"): Entry(WS_CREATE, json={"name": "New board"}),
    ("GET", f"{A}/workspaces/{{workspace_id}}/boards"): Entry(WS_READ),
    ("GET", f"{A}/workspaces/{{workspace_id}}/export"): Entry(WS_READ, note="only the boards the caller can see"),
    ("POST", f"{A}/imports/trello"): Entry(WS_CREATE, params={"workspace_id": "{workspace_id}"}, body="trello"),
    ("POST", f"{A}/imports/orbitask"): Entry(WS_CREATE, params={"workspace_id": "{workspace_id}"}, body="orbitask"),
    # --- boards -----------------------------------------------------------------------------------
    ("GET", f"{A}/boards/{{board_id}}"): Entry(BOARD_READ),
    ("PATCH", f"{A}/boards/{{board_id}}"): Entry(BOARD_WRITE, json={"name": "Renamed"}),
    ("DELETE", f"{A}/boards/{{board_id}}"): Entry(BOARD_ADMIN),
    ("GET", f"{A}/boards/{{board_id}}/events"): Entry(BOARD_READ),
    ("GET", f"{A}/boards/{{board_id}}/export"): Entry(BOARD_READ),
    ("GET", f"{A}/boards/{{board_id}}/members"): Entry(BOARD_READ),
    ("POST", f"{A}/boards/{{board_id}}/members"): Entry(
        BOARD_ADMIN, json={"user_id": "{guest_id}", "role": "commenter"}),
    ("PATCH", f"{A}/boards/{{board_id}}/members/{{user_id}}"): Entry(
        BOARD_ADMIN, json={"role": "commenter"}, path={"user_id": "viewer_id"}),
    ("DELETE", f"{A}/boards/{{board_id}}/members/{{user_id}}"): Entry(
        BOARD_ADMIN(viewer=OK), path={"user_id": "viewer_id"}, note="the viewer themself may leave"),
    ("POST", f"{A}/boards/{{board_id}}/lists"): Entry(BOARD_WRITE, json={"name": "Later"}),
    ("POST", f"{A}/boards/{{board_id}}/labels"): Entry(BOARD_WRITE, json={"name": "ops", "color": "blue"}),
    ("GET", f"{A}/boards/{{board_id}}/cards"): Entry(BOARD_READ),
    ("PATCH", f"{A}/lists/{{list_id}}"): Entry(BOARD_WRITE, json={"name": "Doing"}),
    ("DELETE", f"{A}/lists/{{list_id}}"): Entry(BOARD_WRITE),
    ("POST", f"{A}/lists/{{list_id}}/restore"): Entry(BOARD_WRITE, note="not in the trash: answers the list as it is"),
    ("GET", f"{A}/boards/{{board_id}}/trash"): Entry(BOARD_WRITE, note="the trash is for those who may restore"),
    ("GET", f"{A}/boards/{{board_id}}/archive"): Entry(BOARD_READ),
    ("POST", f"{A}/lists/{{list_id}}/move"): Entry(BOARD_WRITE, json={}),
    ("PATCH", f"{A}/labels/{{label_id}}"): Entry(BOARD_WRITE, json={"name": "urgent"}),
    ("DELETE", f"{A}/labels/{{label_id}}"): Entry(BOARD_WRITE),
    # --- cards ------------------------------------------------------------------------------------
    ("POST", f"{A}/lists/{{list_id}}/cards"): Entry(BOARD_WRITE, json={"title": "New card"}),
    ("GET", f"{A}/cards/{{card_id}}"): Entry(BOARD_READ),
    ("PATCH", f"{A}/cards/{{card_id}}"): Entry(BOARD_WRITE, json={"title": "Retitled"}),
    ("DELETE", f"{A}/cards/{{card_id}}"): Entry(BOARD_WRITE),
    ("POST", f"{A}/cards/{{card_id}}/restore"): Entry(BOARD_WRITE, note="not in the trash: answers the card as it is"),
    ("POST", f"{A}/cards/{{card_id}}/move"): Entry(BOARD_WRITE, json={"list_id": "{list_id}"}),
    ("POST", f"{A}/cards/{{card_id}}/assignees/{{user_id}}"): Entry(BOARD_WRITE, path={"user_id": "member_id"}),
    ("DELETE", f"{A}/cards/{{card_id}}/assignees/{{user_id}}"): Entry(BOARD_WRITE, path={"user_id": "owner_id"}),
    ("POST", f"{A}/cards/{{card_id}}/labels/{{label_id}}"): Entry(BOARD_WRITE),
    ("DELETE", f"{A}/cards/{{card_id}}/labels/{{label_id}}"): Entry(BOARD_WRITE),
    ("GET", f"{A}/cards/{{card_id}}/comments"): Entry(BOARD_READ),
    ("POST", f"{A}/cards/{{card_id}}/comments"): Entry(BOARD_WRITE, json={"body": "looks good"}),
    ("GET", f"{A}/cards/{{card_id}}/activity"): Entry(BOARD_READ),
    ("PATCH", f"{A}/comments/{{comment_id}}"): Entry(AUTHOR_EDIT, json={"body": "edited"}),
    ("DELETE", f"{A}/comments/{{comment_id}}"): Entry(AUTHOR_DELETE),
    ("POST", f"{A}/cards/{{card_id}}/checklists"): Entry(BOARD_WRITE, json={"title": "Steps"}),
    ("POST", f"{A}/checklists/{{checklist_id}}/items"): Entry(BOARD_WRITE, json={"text": "one more"}),
    ("PATCH", f"{A}/checklist-items/{{item_id}}"): Entry(BOARD_WRITE, json={"done": True}),
    ("DELETE", f"{A}/checklist-items/{{item_id}}"): Entry(BOARD_WRITE),
    # --- attachments ------------------------------------------------------------------------------
    ("POST", f"{A}/cards/{{card_id}}/attachments"): Entry(BOARD_WRITE, body="file"),
    ("POST", f"{A}/cards/{{card_id}}/attachments/uploads"): Entry(
        BOARD_WRITE(owner=409, admin=409, member=409), json={"filename": "a.txt", "size": 5},
        note="direct uploads need S3: the local backend refuses them after the policy check"),
    ("POST", f"{A}/cards/{{card_id}}/attachments/uploads/complete"): Entry(
        SIGNED_IN(owner=422, admin=422, member=422, guest=422, viewer=422, outsider=422),
        json={"ticket": "not-a-ticket"}, note="the signed ticket names the card; a forged one is refused first"),
    ("GET", f"{A}/cards/{{card_id}}/attachments"): Entry(BOARD_READ),
    ("GET", f"{A}/attachments/{{attachment_id}}"): Entry(BOARD_READ),
    ("DELETE", f"{A}/attachments/{{attachment_id}}"): Entry(BOARD_WRITE),
    ("GET", f"{A}/attachments/{{attachment_id}}/content"): Entry(BOARD_READ),
    ("GET", f"{A}/attachments/{{attachment_id}}/thumbnail"): Entry(BOARD_READ(owner=404, admin=404, member=404,
                                                                              viewer=404),
                                                                   note="a text file has no thumbnail"),
}

# WebSocket routes: authenticated by a ticket or a same-site cookie (tests/realtime/test_gateway.py)
WEBSOCKETS = {f"{A}/ws"}
